"""SEAT's two backbones: LightTrack-Mobile (the child net found by LightTrack's search,
stride 16, 96 channels) and an AlexNet with BatchNorm (stride 8, 256 channels, no padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, hidden, 1)
        self.conv_expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(torch.relu(self.conv_reduce(F.adaptive_avg_pool2d(x, 1))))
        return x * torch.sigmoid(s)


class DepthwiseSeparable(nn.Module):
    def __init__(self, c_in: int, kernel: int, se: int, c_out: int) -> None:
        super().__init__()
        self.residual = c_in == c_out
        self.conv_dw = nn.Conv2d(c_in, c_in, kernel, 1, kernel // 2, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.se = SqueezeExcite(c_in, se)
        self.conv_pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.se(_swish(self.bn1(self.conv_dw(x))))))
        return y + x if self.residual else y


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, mid: int, kernel: int, stride: int, se: int, c_out: int) -> None:
        super().__init__()
        self.residual = c_in == c_out and stride == 1
        self.conv_pw = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv_dw = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.se = SqueezeExcite(mid, se)
        self.conv_pwl = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _swish(self.bn1(self.conv_pw(x)))
        y = self.se(_swish(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.residual else y


# LightTrack-Mobile stages 1-4: (in, mid, kernel, stride, se hidden, out) per block.
LIGHTTRACK_STAGES = (
    ((16, 64, 7, 2, 16, 24), (24, 144, 7, 1, 40, 24)),
    ((24, 96, 3, 2, 24, 40), (40, 160, 5, 1, 40, 40), (40, 240, 7, 1, 64, 40), (40, 240, 3, 1, 64, 40)),
    ((40, 160, 7, 2, 40, 80), (80, 320, 3, 1, 80, 80), (80, 320, 7, 1, 80, 80), (80, 320, 7, 1, 80, 80)),
    ((80, 480, 7, 1, 120, 96), (96, 384, 5, 1, 96, 96), (96, 576, 3, 1, 144, 96)),
)


class LightTrackMobile(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages = [nn.Sequential(DepthwiseSeparable(16, 3, 8, 16))]
        stages += [nn.Sequential(*(InvertedResidual(*cfg) for cfg in stage)) for stage in LIGHTTRACK_STAGES]
        self.blocks = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(_swish(self.bn1(self.conv_stem(x))))


class AlexNetBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(3, 96, 7, 2), nn.BatchNorm2d(96), nn.MaxPool2d(3, 2), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(96, 256, 5), nn.BatchNorm2d(256), nn.MaxPool2d(3, 2), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Conv2d(256, 384, 3), nn.BatchNorm2d(384), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(384, 384, 3), nn.BatchNorm2d(384), nn.ReLU())
        self.layer5 = nn.Sequential(nn.Conv2d(384, 256, 3), nn.BatchNorm2d(256))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(x)))))


def build_backbone(name: str) -> nn.Module:
    return {"LightTrack": LightTrackMobile, "AlexNet": AlexNetBN}[name]()
