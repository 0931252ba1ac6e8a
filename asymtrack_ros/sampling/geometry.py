"""Crop geometry shared by every training source, identical to the tracker's crops
(``tracking.crop.CropSampler``): a square of side ``ceil(sqrt(w*h) * factor)`` whose top-left
corner is ``round(centre - side / 2)``, zero padded, bilinear. Training on other geometry
would teach the network boxes the tracker never sees.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..tracking.crop import CropSampler


def crop_side(w: float, h: float, factor: float) -> int:
    return CropSampler.side_for(w, h, factor)


def crop_origin(cx: float, cy: float, side: int) -> tuple[float, float]:
    return float(round(cx - side * 0.5)), float(round(cy - side * 0.5))


def crop_matrix(cx: float, cy: float, side: int, out_size: int, reduction: float = 1) -> np.ndarray:
    """2x3 map from source pixels to crop pixels. ``reduction`` r: the source is the image
    decoded (or stored) at 1/r size (pixel u of it covers full-size pixels r*u .. r*u + r).
    """
    x0, y0 = crop_origin(cx, cy, side)
    s = out_size / side
    return np.array(
        [[s * reduction, 0.0, s * (0.5 * reduction - x0) - 0.5], [0.0, s * reduction, s * (0.5 * reduction - y0) - 0.5]]
    )


def crop_patch(image: np.ndarray, cx: float, cy: float, side: int, out_size: int, reduction: float = 1) -> np.ndarray:
    """The crop as uint8 ``out_size`` x ``out_size`` in the image's channel order."""
    return cv2.warpAffine(
        image,
        crop_matrix(cx, cy, side, out_size, reduction),
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def box_in_crop(box: np.ndarray, cx: float, cy: float, side: int) -> np.ndarray:
    """Image box x, y, w, h -> cx, cy, w, h normalised to the crop (the network's target);
    the inverse of ``tracking.crop.crop_box_to_image``.
    """
    x0, y0 = crop_origin(cx, cy, side)
    x, y, w, h = (float(v) for v in box)
    return np.array([(x + w / 2 - x0) / side, (y + h / 2 - y0) / side, w / side, h / side], np.float32)


def jitter_box(rng: np.random.Generator, box: np.ndarray, center: float, scale: float) -> np.ndarray:
    """The reference's jitter: size times exp(N(0, scale)) per side, then the centre moved
    uniformly by up to +-center/2 times sqrt of the jittered area. Returns x, y, w, h.
    """
    x, y, w, h = (float(v) for v in box)
    if scale > 0:
        w, h = w * math.exp(rng.normal() * scale), h * math.exp(rng.normal() * scale)
    cx, cy = float(box[0]) + float(box[2]) / 2, float(box[1]) + float(box[3]) / 2
    if center > 0:
        reach = math.sqrt(w * h) * center
        cx += reach * (rng.random() - 0.5)
        cy += reach * (rng.random() - 0.5)
    return np.array([cx - w / 2, cy - h / 2, w, h])


def box_center(box: np.ndarray) -> tuple[float, float]:
    return float(box[0]) + float(box[2]) / 2, float(box[1]) + float(box[3]) / 2
