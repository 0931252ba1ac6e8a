"""Turning an operator's selection into a pixel box the tracker can start on.

Selections arrive in pixels or normalised [0, 1] image coordinates (MAVLink camera
tracking), as boxes or as single points (rqt_image_view clicks). A point carries no
size, so the box is grown from the image content around it: a click on a car should
give a box around the car, not a fixed square that is mostly road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in pixels, top-left origin

# Colour tolerances tried from loose to tight: the loosest one whose region stays
# inside the size limits wins, so uniform objects get their full extent.
_TOLERANCES = (28, 18, 11, 6)


class SelectionError(ValueError):
    """A selection that cannot be used on this image (the message says why)."""


@dataclass(frozen=True)
class PointBoxParams:
    default_size: float = 64.0  # box side when the content around the point gives nothing usable
    min_size: float = 16.0  # grown boxes are at least this wide and high...
    max_size: float = 256.0  # ...and a region beyond this in either side counts as leaked

    def __post_init__(self) -> None:
        if not 1.0 <= self.min_size <= self.max_size:
            raise ValueError("need 1 <= min_size <= max_size")
        if not self.min_size <= self.default_size <= self.max_size:
            raise ValueError("need min_size <= default_size <= max_size")


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def to_pixels(
    x: float, y: float, w: float, h: float, normalized: bool, width: int, height: int
) -> tuple[float, float, float, float]:
    """Scale normalised coordinates (fractions of the image size) to pixels."""
    if not normalized:
        return float(x), float(y), float(w), float(h)
    return x * width, y * height, w * width, h * height


def validate_point(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    if not _finite(x, y):
        raise SelectionError(f"point ({x}, {y}) is not finite")
    if not (0.0 <= x < width and 0.0 <= y < height):
        raise SelectionError(f"point ({x:.1f}, {y:.1f}) lies outside the {width}x{height} image")
    return float(x), float(y)


def validate_box(box: Box, width: int, height: int) -> Box:
    """The box clipped to the image; raises SelectionError if nothing usable remains."""
    x, y, w, h = box
    if not _finite(x, y, w, h):
        raise SelectionError(f"box {box} is not finite")
    if w <= 0 or h <= 0:
        raise SelectionError(f"box {box} has zero or negative size")
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(float(width), x + w), min(float(height), y + h)
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        raise SelectionError(f"box ({x:.1f}, {y:.1f}, {w:.1f}, {h:.1f}) lies outside the {width}x{height} image")
    return x1, y1, x2 - x1, y2 - y1


def _fit(cx: float, cy: float, w: float, h: float, width: int, height: int) -> Box:
    """A w x h box centred near (cx, cy), shifted (not shrunk) to stay inside the image."""
    w, h = min(w, float(width)), min(h, float(height))
    x = min(max(0.0, cx - w / 2), width - w)
    y = min(max(0.0, cy - h / 2), height - h)
    return x, y, w, h


def _grow_region(window: np.ndarray, sx: int, sy: int, params: PointBoxParams) -> tuple[int, int, int, int] | None:
    """Bounding rect (x, y, w, h in window pixels) of the colour region around the seed
    that edges bound, or None when every tolerance leaks or finds too little.
    """
    blurred = cv2.GaussianBlur(window, (5, 5), 0)
    lab = cv2.cvtColor(blurred, cv2.COLOR_BGR2Lab)
    edges = cv2.Canny(cv2.cvtColor(blurred, cv2.COLOR_BGR2GRAY), 50, 150)
    wh, ww = window.shape[:2]
    min_area = (params.min_size / 2) ** 2
    for tol in _TOLERANCES:
        # floodFill never enters non-zero mask pixels: edges are barriers (but not at the seed).
        mask = np.zeros((wh + 2, ww + 2), np.uint8)
        mask[1:-1, 1:-1] = edges > 0
        mask[max(0, sy - 1) : sy + 3, max(0, sx - 1) : sx + 3] = 0
        flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
        area, _, _, rect = cv2.floodFill(lab, mask, (sx, sy), (0, 0, 0), (tol,) * 3, (tol,) * 3, flags)
        _, _, rw, rh = rect
        leaked = rw > params.max_size or rh > params.max_size or rw >= 0.9 * ww or rh >= 0.9 * wh
        if leaked:
            continue
        if area < min_area:
            return None  # tighter tolerances only shrink it further
        return rect
    return None


def box_around_point(image_bgr: np.ndarray, x: float, y: float, params: PointBoxParams) -> tuple[Box, bool]:
    """A box around the object under (x, y): colour region growing bounded by edges, in
    a window of twice ``max_size`` around the point. Returns the box and whether it came
    from the image content (False: ``default_size`` square centred on the point).
    """
    height, width = image_bgr.shape[:2]
    x, y = validate_point(x, y, width, height)
    if image_bgr.ndim == 2:
        image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    half = int(params.max_size)
    px, py = int(x), int(y)
    x0, y0 = max(0, px - half), max(0, py - half)
    x1, y1 = min(width, px + half + 1), min(height, py + half + 1)
    rect = _grow_region(image_bgr[y0:y1, x0:x1], px - x0, py - y0, params)
    if rect is None:
        s = params.default_size
        return _fit(x, y, s, s, width, height), False
    rx, ry, rw, rh = rect
    # A little context around the region, as trackers are trained with; then the limits.
    w = min(max(rw + 4.0, params.min_size), params.max_size)
    h = min(max(rh + 4.0, params.min_size), params.max_size)
    return _fit(x0 + rx + rw / 2, y0 + ry + rh / 2, w, h, width, height), True
