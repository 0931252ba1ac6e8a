"""The reference's box loss (2 * GIoU + 5 * L1 on normalised x1, y1, x2, y2), the
score head's binary cross-entropy, and the validation summary every family reports.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def giou(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised IoU and IoU of matching x1y1x2y2 rows. An inverted prediction (x2 < x1,
    common early in training) has no area, and the enclosing box spans its corners in
    whichever order: with the raw corners, inverting a box would shrink the enclosing box
    and lower the loss, a trap the corner head falls into from scratch.
    """
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(-1)
    area_g = (gt[:, 2:] - gt[:, :2]).clamp(min=0).prod(-1)
    inter = (torch.min(pred[:, 2:], gt[:, 2:]) - torch.max(pred[:, :2], gt[:, :2])).clamp(min=0).prod(-1)
    union = area_p + area_g - inter
    iou = inter / union.clamp(min=1e-7)
    lo = torch.min(torch.min(pred[:, :2], pred[:, 2:]), gt[:, :2])
    hi = torch.max(torch.max(pred[:, :2], pred[:, 2:]), gt[:, 2:])
    hull = (hi - lo).prod(-1)
    return iou - (hull - union) / hull.clamp(min=1e-7), iou


def box_loss(
    pred_cxcywh: torch.Tensor, gt_cxcywh: torch.Tensor, w_giou: float = 2.0, w_l1: float = 5.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Targets are clamped to the crop as the reference does (a target partly outside the
    search region is supervised by its visible extent).
    """
    pred = cxcywh_to_xyxy(pred_cxcywh)
    gt = cxcywh_to_xyxy(gt_cxcywh).clamp(0.0, 1.0)
    g, iou = giou(pred, gt)
    l_giou = (1 - g).mean()
    l_l1 = F.l1_loss(pred, gt)
    return w_giou * l_giou + w_l1 * l_l1, {"giou": l_giou.detach(), "l1": l_l1.detach(), "iou": iou.mean().detach()}


def score_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    logits = torch.cat([pos_logits, neg_logits])
    labels = torch.cat([torch.ones_like(pos_logits), torch.zeros_like(neg_logits)])
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    acc = ((logits > 0).float() == labels).float().mean()
    return loss, {"score_bce": loss.detach(), "score_acc": acc.detach()}


def validation_summary(mean_iou: float, pos_scores: list[float], neg_scores: list[float]) -> dict[str, float]:
    """Mean IoU and mean scores of positive and (when there were any) negative pairs."""
    result = {"val_iou": mean_iou, "val_score_pos": float(np.mean(pos_scores))}
    if neg_scores:
        result["val_score_neg"] = float(np.mean(neg_scores))
    return result
