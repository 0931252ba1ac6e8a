"""The searchable fusion ops: Wave-MLP blocks (``wavemlp_k{k}_t{t}[_dw]``) and skip.

Module and parameter names follow the original checkpoints so that they load strictly.
``npu_friendly`` swaps the three-branch softmax for exp / sum (same maths) so that a
graph has no Softmax node.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import SKIP, parse_op


def softmax3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Softmax across three same-shaped tensors with elementwise ops only (NPU graphs)."""
    m = torch.maximum(torch.maximum(a, b), c)
    ea, eb, ec = torch.exp(a - m), torch.exp(b - m), torch.exp(c - m)
    s = ea + eb + ec
    return ea / s, eb / s, ec / s


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, out or dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _phase(dim: int, dw: bool, affine: bool) -> nn.Sequential:
    conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False) if dw else nn.Conv2d(dim, dim, 1)
    return nn.Sequential(conv, nn.BatchNorm2d(dim, affine=affine), nn.ReLU())


class PATM(nn.Module):
    """Phase-aware token mixing: amplitude x (cos, sin) of a learned phase, mixed along H
    and along W by grouped strip convs, plus a channel branch, re-weighted per channel.
    """

    def __init__(self, dim: int, kernel: int, dw: bool, affine: bool = True) -> None:
        super().__init__()
        pad = kernel // 2
        self.fc_h = nn.Conv2d(dim, dim, 1, bias=False)
        self.fc_w = nn.Conv2d(dim, dim, 1, bias=False)
        self.fc_c = nn.Conv2d(dim, dim, 1, bias=False)
        # groups=dim over the concatenation [a*cos, a*sin]: group g sees channels 2g, 2g+1
        # of the concatenation (not a cos/sin pair of one channel), as in Wave-MLP.
        self.tfc_h = nn.Conv2d(2 * dim, dim, (1, kernel), padding=(0, pad), groups=dim, bias=False)
        self.tfc_w = nn.Conv2d(2 * dim, dim, (kernel, 1), padding=(pad, 0), groups=dim, bias=False)
        self.reweight = Mlp(dim, dim // 4, dim * 3)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.theta_h_conv = _phase(dim, dw, affine)
        self.theta_w_conv = _phase(dim, dw, affine)
        self.npu_friendly = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        th, tw = self.theta_h_conv(x), self.theta_w_conv(x)
        ah, aw = self.fc_h(x), self.fc_w(x)
        h = self.tfc_h(torch.cat([ah * torch.cos(th), ah * torch.sin(th)], dim=1))
        w = self.tfc_w(torch.cat([aw * torch.cos(tw), aw * torch.sin(tw)], dim=1))
        c = self.fc_c(x)
        a = self.reweight(F.adaptive_avg_pool2d(h + w + c, 1))  # channel k*3 + j weighs branch j
        if self.npu_friendly:
            wh, ww, wc = softmax3(a[:, 0::3], a[:, 1::3], a[:, 2::3])
        else:
            b, ch = x.shape[:2]
            wh, ww, wc = a.reshape(b, ch, 3, 1, 1).softmax(dim=2).unbind(2)
        return self.proj(h * wh + w * ww + c * wc)


class WaveMLP(nn.Module):
    """1x1 projection to the block width, then PATM and MLP residuals (pre-BatchNorm)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, dw: bool, affine: bool = True) -> None:
        super().__init__()
        self._proj = nn.Conv2d(c_in, c_out, 1)
        self._norm1 = nn.BatchNorm2d(c_out, affine=affine)
        self._norm2 = nn.BatchNorm2d(c_out, affine=affine)
        self._patm = PATM(c_out, kernel, dw, affine)
        self._mlp = Mlp(c_out, c_out * expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._proj(x)
        x = x + self._patm(self._norm1(x))
        return x + self._mlp(self._norm2(x))


class Skip(nn.Module):
    """Identity, or a 1x1 conv + BN when the width changes."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.op = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def build_op(name: str, c_in: int, c_out: int, affine: bool = True) -> nn.Module:
    if name == SKIP:
        return Skip(c_in, c_out, affine)
    kernel, expansion, dw = parse_op(name)
    return WaveMLP(c_in, c_out, kernel, expansion, dw, affine)
