"""RoIAlign with torchvision's semantics (``aligned=False``, adaptive sampling ratio), in
plain torch, exported as the ONNX ``RoiAlign`` op (``output_half_pixel``), plus an exact
op-free form for runtimes without RoiAlign.

torchvision itself is not a dependency: its wheels are tied to one torch build.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _sample(feat: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``feat`` (C, H, W) at the points (y, x) (each of shape P), zero
    outside [-1, H] x [-1, W] and clamped to the border inside it, as torchvision does.
    """
    _, h, w = feat.shape
    outside = (y < -1.0) | (y > h) | (x < -1.0) | (x > w)
    y = y.clamp(min=0.0)
    x = x.clamp(min=0.0)
    y0 = y.floor().long()
    x0 = x.floor().long()
    y_last = y0 >= h - 1
    x_last = x0 >= w - 1
    y0 = torch.where(y_last, torch.full_like(y0, h - 1), y0)
    x0 = torch.where(x_last, torch.full_like(x0, w - 1), x0)
    y = torch.where(y_last, y0.to(y.dtype), y)
    x = torch.where(x_last, x0.to(x.dtype), x)
    y1 = torch.where(y_last, y0, y0 + 1)
    x1 = torch.where(x_last, x0, x0 + 1)
    ly, lx = y - y0, x - x0
    hy, hx = 1.0 - ly, 1.0 - lx
    flat = feat.reshape(feat.shape[0], -1)
    out = (
        flat[:, y0 * w + x0] * (hy * hx)
        + flat[:, y0 * w + x1] * (hy * lx)
        + flat[:, y1 * w + x0] * (ly * hx)
        + flat[:, y1 * w + x1] * (ly * lx)
    )
    return out * (~outside).to(out.dtype)


def roi_align_reference(feat: torch.Tensor, rois: torch.Tensor, output_size: int, spatial_scale: float) -> torch.Tensor:
    """``torchvision.ops.roi_align(feat, rois, output_size, spatial_scale, -1, aligned=False)``.
    ``rois`` is (K, 5) = [batch index, x1, y1, x2, y2]; returns (K, C, out, out).
    """
    outs = []
    f32 = np.float32
    for roi in rois.detach().cpu().float().numpy():
        b, x1, y1, x2, y2 = roi
        # float32 arithmetic in the C++ kernel's order: start + p*bin + (i+.5)*bin/grid
        sx, sy = x1 * f32(spatial_scale), y1 * f32(spatial_scale)
        rw = max(x2 * f32(spatial_scale) - sx, f32(1.0))
        rh = max(y2 * f32(spatial_scale) - sy, f32(1.0))
        bw, bh = rw / f32(output_size), rh / f32(output_size)
        gw, gh = math.ceil(rw / f32(output_size)), math.ceil(rh / f32(output_size))
        p = np.arange(output_size, dtype=f32)
        ys = sy + p[:, None] * bh + (np.arange(gh, dtype=f32)[None, :] + f32(0.5)) * bh / f32(gh)
        xs = sx + p[:, None] * bw + (np.arange(gw, dtype=f32)[None, :] + f32(0.5)) * bw / f32(gw)
        yy = np.broadcast_to(ys.reshape(output_size, 1, gh, 1), (output_size, output_size, gh, gw))
        xx = np.broadcast_to(xs.reshape(1, output_size, 1, gw), (output_size, output_size, gh, gw))
        pts = [torch.from_numpy(np.ascontiguousarray(a).reshape(-1)).to(feat.device) for a in (yy, xx)]
        vals = _sample(feat[int(b)].float(), *pts)
        vals = vals.reshape(-1, output_size, output_size, gh * gw).sum(-1) / max(gh * gw, 1)
        outs.append(vals.to(feat.dtype))
    return torch.stack(outs) if outs else feat.new_zeros(0, feat.shape[1], output_size, output_size)


class RoiAlignOp(torch.autograd.Function):
    """Eager: the reference above; ONNX: one ``RoiAlign`` node (opset 16+)."""

    @staticmethod
    def forward(ctx, feat: torch.Tensor, rois: torch.Tensor, output_size: int, spatial_scale: float) -> torch.Tensor:
        ctx.save_for_backward(feat, rois)
        ctx.args = (output_size, spatial_scale)
        return roi_align_reference(feat, rois, output_size, spatial_scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:
        """Linear in the features: the gradient of the (differentiable) reference; boxes get none."""
        feat, rois = ctx.saved_tensors
        with torch.enable_grad():
            f = feat.detach().requires_grad_()
            (g,) = torch.autograd.grad(roi_align_reference(f, rois, *ctx.args), f, grad)
        return g, None, None, None

    @staticmethod
    def symbolic(g, feat, rois, output_size: int, spatial_scale: float):
        boxes = g.op(
            "Slice",
            rois,
            g.op("Constant", value_t=torch.tensor([1])),
            g.op("Constant", value_t=torch.tensor([5])),
            g.op("Constant", value_t=torch.tensor([1])),
        )
        index = g.op("Gather", rois, g.op("Constant", value_t=torch.tensor(0)), axis_i=1)
        index = g.op("Cast", index, to_i=7)  # int64
        return g.op(
            "RoiAlign",
            feat,
            boxes,
            index,
            coordinate_transformation_mode_s="output_half_pixel",
            mode_s="avg",
            output_height_i=output_size,
            output_width_i=output_size,
            sampling_ratio_i=0,  # 0 = adaptive, torchvision's -1
            spatial_scale_f=spatial_scale,
        )


def roi_align(feat: torch.Tensor, rois: torch.Tensor, output_size: int, spatial_scale: float) -> torch.Tensor:
    return RoiAlignOp.apply(feat, rois, output_size, spatial_scale)


def roi_align_weights(
    boxes: torch.Tensor, height: int, width: int, output_size: int, spatial_scale: float, max_grid: int
) -> torch.Tensor:
    """RoIAlign of one box per sample as a linear map, built from elementwise ops only:
    (B, out*out, H*W) weights such that ``out = weights @ feat.flatten(2)`` equals
    ``roi_align`` (exact while the adaptive grid per bin stays <= ``max_grid``, which the
    caller guarantees from the crop geometry). For graphs without RoiAlign / Gather.
    """
    dtype = boxes.dtype
    s = spatial_scale
    sx, sy = boxes[:, 0:1] * s, boxes[:, 1:2] * s  # (B, 1)
    rw = torch.clamp(boxes[:, 2:3] * s - sx, min=1.0)
    rh = torch.clamp(boxes[:, 3:4] * s - sy, min=1.0)
    bw, bh = rw / output_size, rh / output_size
    gw, gh = torch.ceil(bw), torch.ceil(bh)  # adaptive grid (float), <= max_grid
    i = torch.arange(max_grid, dtype=dtype, device=boxes.device)
    p = torch.arange(output_size, dtype=dtype, device=boxes.device)
    # sample coordinates (B, out, grid); unused grid slots get weight 0
    ys = sy[:, :, None] + p[None, :, None] * bh[:, :, None] + (i[None, None, :] + 0.5) * bh[:, :, None] / gh[:, :, None]
    xs = sx[:, :, None] + p[None, :, None] * bw[:, :, None] + (i[None, None, :] + 0.5) * bw[:, :, None] / gw[:, :, None]
    wy = _axis_weights(ys, height) * (i[None, None, :] < gh[:, :, None]).to(dtype)[..., None]  # (B, out, grid, H)
    wx = _axis_weights(xs, width) * (i[None, None, :] < gw[:, :, None]).to(dtype)[..., None]  # (B, out, grid, W)
    wy = wy.sum(2) / gh[:, :, None]  # (B, out, H)
    wx = wx.sum(2) / gw[:, :, None]  # (B, out, W)
    weights = wy[:, :, None, :, None] * wx[:, None, :, None, :]  # (B, out_y, out_x, H, W)
    return weights.reshape(boxes.shape[0], output_size * output_size, height * width)


def _axis_weights(coord: torch.Tensor, size: int) -> torch.Tensor:
    """Separable 1-D bilinear weights (..., size) of torchvision's sampling at ``coord``."""
    valid = ((coord >= -1.0) & (coord <= size)).to(coord.dtype)
    c = torch.clamp(coord, min=0.0)
    c = torch.clamp(c, max=float(size - 1))  # at/after the last cell: all weight on it
    cells = torch.arange(size, dtype=coord.dtype, device=coord.device)
    w = torch.clamp(1.0 - torch.abs(c[..., None] - cells), min=0.0)
    return w * valid[..., None]
