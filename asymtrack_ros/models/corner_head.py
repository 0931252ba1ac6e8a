"""Corner predictor head and the confidence derived from its heatmaps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _fold_bn(block: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a conv (or conv-BN-ReLU block) with its BatchNorm folded in."""
    if isinstance(block, nn.Conv2d):
        return block.weight, block.bias
    conv, bn = block[0], block[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return conv.weight * scale[:, None, None, None], (conv.bias - bn.running_mean) * scale + bn.bias


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

        self.fused: nn.Sequential | None = None

    def _logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B, N] heatmap logits of the top-left and bottom-right towers."""
        if self.fused is not None:
            return list(self.fused(x).flatten(2).unbind(1))
        out = []
        for side in ("tl", "br"):
            y = x
            for i in range(1, 6):
                y = getattr(self, f"conv{i}_{side}")(y)
            out.append(y.flatten(1))
        return out

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold each BatchNorm into its conv and run both towers as one stack: the first
        conv concatenated, the rest as two-group convs. Exact in eval mode.
        """
        layers: list[nn.Module] = []
        for i in range(1, 6):
            convs = [getattr(self, f"conv{i}_{side}") for side in ("tl", "br")]
            weights, biases = zip(*(_fold_bn(c) for c in convs))
            w, b = torch.cat(weights), torch.cat(biases)
            conv = nn.Conv2d(
                w.shape[1] * (1 if i == 1 else 2),
                w.shape[0],
                w.shape[2],
                padding=w.shape[2] // 2,
                groups=1 if i == 1 else 2,
            )
            conv.weight.copy_(w)
            conv.bias.copy_(b)
            layers += [conv, nn.ReLU()] if i < 5 else [conv]
        self.fused = nn.Sequential(*layers)
        for i in range(1, 6):
            for side in ("tl", "br"):
                delattr(self, f"conv{i}_{side}")

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boxes [B, 4] (cx, cy, w, h in [0, 1] of the crop), derived score [B] and the
        heatmap logits [B, 2, N] (top-left, bottom-right; cell i is at x = (i % n) / n,
        y = (i // n) / n), which a tracker may combine with its own spatial prior.
        """
        corners, masses = [], []
        all_logits = self._logits(feat)
        for logits in all_logits:
            prob = F.softmax(logits, dim=1)
            corners.append(torch.stack([prob @ self.coord_x, prob @ self.coord_y], dim=1))
            masses.append(self._peak_mass(prob))
        (x1, y1), (x2, y2) = corners[0].unbind(1), corners[1].unbind(1)
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
        return boxes, torch.sqrt(masses[0] * masses[1]).clamp(0.0, 1.0), torch.stack(all_logits, dim=1)

    def _peak_mass(self, prob: torch.Tensor) -> torch.Tensor:
        grid = prob.reshape(-1, 1, self.feat_size, self.feat_size)
        local = F.avg_pool2d(grid, 3, stride=1, padding=1, count_include_pad=True) * 9.0
        return local.flatten(1).max(dim=1).values
