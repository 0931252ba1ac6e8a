"""Corner predictor head and the confidence derived from its heatmaps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CornerHead(nn.Module):
    """Two conv towers predict top-left / bottom-right heatmaps; soft-argmax gives corners.

    Confidence: for each corner, the probability mass inside the 3x3 cells around the
    heatmap's peak (1.0 when the heatmap is a sharp single peak, ~9/N when it is flat);
    the score is the geometric mean of the two corners' masses. A target that has left
    the search region or is occluded spreads both distributions and drives it down.
    """

    def __init__(self, channels: int, feat_size: int) -> None:
        super().__init__()
        self.feat_size = feat_size
        widths = (channels, 256, 128, 64, 32)
        for side in ("tl", "br"):
            for i in range(4):
                setattr(self, f"conv{i + 1}_{side}", _conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{side}", nn.Conv2d(32, 1, 1))
        coords = torch.arange(feat_size, dtype=torch.float32) / feat_size
        self.register_buffer("coord_x", coords.repeat(feat_size), persistent=False)
        self.register_buffer("coord_y", coords.repeat_interleave(feat_size), persistent=False)

    def _tower(self, x: torch.Tensor, side: str) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{side}")(x)
        return x.flatten(1)  # [B, N] logits

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        corners, masses = [], []
        for side in ("tl", "br"):
            prob = F.softmax(self._tower(feat, side), dim=1)
            corners.append(torch.stack([prob @ self.coord_x, prob @ self.coord_y], dim=1))
            masses.append(self._peak_mass(prob))
        (x1, y1), (x2, y2) = corners[0].unbind(1), corners[1].unbind(1)
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
        return boxes, torch.sqrt(masses[0] * masses[1]).clamp(0.0, 1.0)

    def _peak_mass(self, prob: torch.Tensor) -> torch.Tensor:
        grid = prob.reshape(-1, 1, self.feat_size, self.feat_size)
        local = F.avg_pool2d(grid, 3, stride=1, padding=1, count_include_pad=True) * 9.0
        return local.flatten(1).max(dim=1).values
