"""A tracking teacher: LightFC (trained on GOT-10k, LaSOT, COCO and more; MIT) run on the
student's own crops, whose score map and box AsymTrack-T learns to reproduce.

LightFC takes exactly AsymTrack-T's crops (template 2x -> 128, search 4x -> 256, ImageNet
normalisation), so every training pair, augmentation included, is also a teacher input.
Its 16x16 score map, pooled 2x2 onto the student's 8x8 grid and normalised, is the target
distribution of a 1x1 map head on the student's neck features (KL divergence; the head is
not shipped, as the feature teacher's projection is not). Its box is a second box target
(GIoU + L1, as for the ground truth) on the pairs where its peak score reaches
``min_score``. The teacher runs frozen on onnxruntime, outside autograd.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..tracking.lightfc import LightFCNet, decode
from .losses import box_loss


class TeacherTargets:
    """LightFC's pooled score map [B, 8, 8] (a distribution per pair), box [B, 4]
    (cx, cy, w, h of the search crop) and peak score [B] for a batch of normalised crops.
    """

    def __init__(self, model: str, threads: int = 1) -> None:
        self.net = LightFCNet(model, threads)

    @torch.no_grad()
    def __call__(self, template: torch.Tensor, search: torch.Tensor, grid: int) -> dict[str, torch.Tensor]:
        maps, boxes, peaks = [], [], []
        for z, x in zip(template.cpu().numpy(), search.cpu().numpy()):
            score, size, offset = self.net.maps(self.net.template_features(z[None]), np.ascontiguousarray(x[None]))
            box, peak = decode(score, size, offset)
            maps.append(score[0])
            boxes.append(box)
            peaks.append(peak)
        pooled = F.adaptive_avg_pool2d(torch.from_numpy(np.stack(maps)), grid)[:, 0]
        dist = pooled / pooled.sum(dim=(1, 2), keepdim=True).clamp(min=1e-12)
        dev = template.device
        return {
            "map": dist.to(dev),
            "box": torch.from_numpy(np.stack(boxes)).to(dev),
            "peak": torch.tensor(peaks, device=dev),
        }


class MapHead(nn.Module):
    """Student side: one logit per cell of the neck's map."""

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.conv(fmap)[:, 0]


def teacher_loss(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    targets: dict[str, torch.Tensor],
    map_weight: float,
    box_weight: float,
    min_score: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """KL(teacher map || softmax(student logits)) per pair, plus the box loss against the
    teacher's boxes where it is confident.
    """
    log_q = F.log_softmax(logits.flatten(1), dim=1)
    p = targets["map"].flatten(1)
    kl = (p * (torch.log(p.clamp(min=1e-12)) - log_q)).sum(1).mean()
    loss = map_weight * kl
    stats = {"teacher_kl": kl.detach()}
    sure = targets["peak"] >= min_score
    if box_weight and sure.any():
        b_loss, b_stats = box_loss(boxes[sure], targets["box"][sure])
        loss = loss + box_weight * b_loss
        stats["teacher_box_iou"] = b_stats["iou"]
    stats["teacher_sure"] = sure.float().mean()
    return loss, stats
