"""SEAT's task loss: weighted BCE on cls (positives and negatives weigh half each) plus
the FCOS IoU loss on reg where the grid point lies inside the box.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits, labels = logits.reshape(-1), labels.reshape(-1)
    pos, neg = labels == 1, labels == 0
    loss = 0.5 * F.binary_cross_entropy_with_logits(logits[neg], labels[neg])
    if pos.any():
        loss = loss + 0.5 * F.binary_cross_entropy_with_logits(logits[pos], labels[pos])
    return loss


def iou_loss(reg: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-log((I + 1) / (U + 1)) of l, t, r, b distance boxes; (loss, mean IoU)."""
    pred = reg.permute(0, 2, 3, 1).reshape(-1, 4)[weight.reshape(-1) > 0]
    tgt = target.reshape(-1, 4)[weight.reshape(-1) > 0]
    if pred.numel() == 0:
        return reg.sum() * 0, reg.new_zeros(())
    area_p = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    area_t = (tgt[:, 0] + tgt[:, 2]) * (tgt[:, 1] + tgt[:, 3])
    iw = torch.min(pred[:, 0], tgt[:, 0]) + torch.min(pred[:, 2], tgt[:, 2])
    ih = torch.min(pred[:, 1], tgt[:, 1]) + torch.min(pred[:, 3], tgt[:, 3])
    inter = iw * ih
    union = area_p + area_t - inter
    return -torch.log((inter + 1) / (union + 1)).mean(), (inter / union).mean().detach()


def task_loss(cls: torch.Tensor, reg: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    c = weighted_bce(cls, batch["cls_label"])
    r, iou = iou_loss(reg, batch["reg_target"], batch["reg_weight"])
    return c + r, {"cls": c.item(), "reg": r.item(), "iou": iou.item()}
