"""The SEAT network: backbone -> neck -> CFM (coarse fusion) -> found Wave-MLP blocks ->
collector -> cls/reg head, split into a template branch run once per target and a
search branch run per frame.

Template cache (what the search branch needs, nothing recomputed per frame):
``template_kernel`` (B, Hz*Wz, C) the embedded template pixels, ``template_vec`` (B, C, 1, 1)
the RoI-pooled template vector g, ``film_scale`` = 1 + w(g) and ``film_shift`` = b(g).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...contracts.spec import ModelSpec
from .arch import BlockArch, SeatArch
from .backbones import build_backbone
from .ops import build_op
from .roi_align import roi_align, roi_align_weights

CACHE_NAMES = ("template_kernel", "template_vec", "film_scale", "film_shift")
TEMPLATE_INPUTS = ("template", "template_box")
OUTPUTS = ("cls", "reg")
# RoIAlign as a weight map (NPU graphs) is exact for template boxes up to this multiple
# of the crop; the tracker's geometry keeps them below 2/sqrt(3).
MAX_BOX_OVER_CROP = 1.25


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm``; in NPU form spelt out as reduce / elementwise ops."""

    npu_friendly = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.npu_friendly:
            return super().forward(x)
        b, c, h, w = x.shape
        g = x.reshape(b, self.num_groups, -1)
        d = g - g.mean(-1, keepdim=True)
        y = (d / torch.sqrt((d * d).mean(-1, keepdim=True) + self.eps)).reshape(b, c, h, w)
        return y * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)


class Neck(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x)


def _conv_bn_leaky(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1))


class CFM(nn.Module):
    """Coarse fusion: template vector g (RoIAlign in the box, 3x3 conv) added to every search
    pixel, pixel-wise correlation with every template pixel, then FiLM by g.
    """

    def __init__(self, arch: SeatArch) -> None:
        super().__init__()
        c, hid, out = arch.cfm_channels, arch.cfm_hidden, arch.cfm_out
        self.roi_size, self.scale = arch.roi_size, 1.0 / arch.stride
        self.max_grid = math.ceil(MAX_BOX_OVER_CROP * arch.template_size * self.scale / arch.roi_size)
        self.s_embed = nn.Conv2d(c, c, 1)
        self.t_embed = nn.Conv2d(c, c, 1)
        self.spatial_conv = _conv_bn_leaky(c, c, arch.roi_size)
        self.simple = _conv_bn_leaky(hid, out, 1)
        self.weight = nn.Sequential(nn.Conv2d(c, out, 1), nn.LeakyReLU(0.1))
        self.bias = nn.Sequential(nn.Conv2d(c, out, 1), nn.LeakyReLU(0.1))
        self.npu_friendly = False

    def pool_template(self, z: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """RoIAlign (roi_size x roi_size) of the embedded template inside ``box`` (B, 4)."""
        b, c, h, w = z.shape
        if self.npu_friendly:
            weights = roi_align_weights(box.float(), h, w, self.roi_size, self.scale, self.max_grid).to(z.dtype)
            pooled = (weights[:, :, None, :] * z.reshape(b, 1, c, h * w)).sum(-1)  # (B, R*R, C)
            return pooled.transpose(1, 2).reshape(b, c, self.roi_size, self.roi_size)
        index = torch.arange(b, dtype=torch.float32, device=box.device).reshape(b, 1)
        rois = torch.cat([index, box.float()], dim=1)
        return roi_align(z.float(), rois, self.roi_size, self.scale).to(z.dtype)

    def encode(self, zf: torch.Tensor, box: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.t_embed(zf)
        g = self.spatial_conv(self.pool_template(z, box))
        return {
            "template_kernel": z.flatten(2).transpose(1, 2),
            "template_vec": g,
            "film_scale": 1 + self.weight(g),
            "film_shift": self.bias(g),
        }

    def correlate(self, xf: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, Hz*Wz, H, W): each search pixel (plus g) against each template pixel."""
        x = self.s_embed(xf) + cache["template_vec"]
        kernel = cache["template_kernel"]
        b, c, h, w = x.shape
        n = kernel.shape[1]
        if self.npu_friendly:  # a 1x1 conv with the template as weights: no MatMul node
            out = F.conv2d(x.reshape(1, b * c, h, w), kernel.reshape(b * n, c, 1, 1), groups=b)
            return out.reshape(b, n, h, w)
        return torch.matmul(kernel, x.reshape(b, c, h * w)).reshape(b, n, h, w)

    def forward(self, xf: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        return cache["film_scale"] * self.simple(self.correlate(xf, cache)) + cache["film_shift"]


class FuseBlock(nn.Module):
    def __init__(self, b: BlockArch) -> None:
        super().__init__()
        self.head_layer = build_op(b.head_op, b.in_channels, b.out_channels)
        self.stack_layers = nn.Sequential(*(build_op(op, b.out_channels, b.out_channels) for op in b.stack_ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack_layers(self.head_layer(x))


class Collector(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1_1 = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1_1(x)


def _tower(channels: int, depth: int, groups: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), GroupNorm(groups, channels), nn.ReLU()]
    return nn.Sequential(*layers)


class Head(nn.Module):
    """cls = 0.1 * conv(tower) (logits); reg = exp(s * conv(tower) + b) = l, t, r, b distances
    in search-crop pixels.
    """

    def __init__(self, channels: int, depth: int = 4, groups: int = 32) -> None:
        super().__init__()
        self.bbox_tower = _tower(channels, depth, groups)
        self.cls_tower = _tower(channels, depth, groups)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.cls_pred = nn.Conv2d(channels, 1, 3, padding=1)
        self.adjust = nn.Parameter(torch.full((1,), 0.1))
        self.bias = nn.Parameter(torch.ones(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reg = torch.exp(self.adjust * self.bbox_pred(self.bbox_tower(x)) + self.bias)
        return 0.1 * self.cls_pred(self.cls_tower(x)), reg


class SeatNet(nn.Module):
    def __init__(self, arch: SeatArch) -> None:
        super().__init__()
        self.arch = arch
        self.variant = arch.variant
        self.backbone = build_backbone(arch.backbone)
        self.neck = Neck(*arch.neck)
        self.match = CFM(arch)
        self.fuse = nn.ModuleList(FuseBlock(b) for b in arch.blocks)
        self.collector = Collector(*arch.collector)
        self.prediction = Head(arch.head_channels, arch.head_tower, arch.head_groups)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(image))

    def encode_template(self, template: torch.Tensor, template_box: torch.Tensor) -> dict[str, torch.Tensor]:
        """Once per target: ``template`` (B, 3, T, T) raw BGR 0..255, ``template_box`` (B, 4)
        [x1, y1, x2, y2] of the target in template-crop pixels.
        """
        return self.match.encode(self.features(template), template_box)

    def head(self, merged: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = merged
        for block in self.fuse:
            x = block(x)
        return self.prediction(self.collector(x))

    def track(self, search: torch.Tensor, cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cls, reg = self.head(self.match(self.features(search), cache))
        return {"cls": cls, "reg": reg}

    def forward(
        self, template: torch.Tensor, search: torch.Tensor, template_box: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.track(search, self.encode_template(template, template_box))
        return out["cls"], out["reg"]

    def set_npu_friendly(self, on: bool = True) -> SeatNet:
        """Same maths without RoiAlign, MatMul, GroupNorm / InstanceNorm or Softmax nodes."""
        for m in self.modules():
            if hasattr(m, "npu_friendly"):
                m.npu_friendly = on
        return self

    def spec(self, precision: str = "fp32", npu_friendly: bool = False) -> ModelSpec:
        return seat_spec(self.arch, precision, npu_friendly)


def seat_spec(arch: SeatArch, precision: str = "fp32", npu_friendly: bool = False) -> ModelSpec:
    """The deployment contract. Crops follow SiamFC's context rule (``extra``); the factors
    are the nominal ones for a square target.
    """
    t = arch.tracker
    big = None if npu_friendly else t.big_sz
    return ModelSpec(
        family="seat",
        variant=arch.variant,
        template_size=arch.template_size,
        search_size=arch.search_size,
        template_factor=2.0,
        search_factor=round(2.0 * arch.search_size / arch.template_size, 4),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        pixel_scale=1.0,
        template_inputs=TEMPLATE_INPUTS,
        search_inputs=("search",),
        cache_names=CACHE_NAMES,
        outputs=OUTPUTS,
        precision=precision,
        extra={
            "channel_order": "bgr",
            "stride": arch.stride,
            "context_amount": t.context_amount,
            "penalty_k": t.penalty_k,
            "window_influence": t.window_influence,
            "lr": t.lr,
            "search_size_big": big,
            "small_target_ratio": t.small_target_ratio,
            "npu_friendly": npu_friendly,
            "arch": arch.to_dict(),
        },
    )
