"""A colour check on the box a network chose, independent of the network's own score.

A Siamese score says "this looks like the template's pattern"; it can be near 1 on a sign's
lettering while the target is hidden behind the sign. The colours of the target against
those of its surroundings at selection (the object / surroundings likelihood of
distractor-aware colour trackers) say whether the box still holds the target's colours:
low when the box lies on an occluder or on a different-coloured look-alike.
"""

from __future__ import annotations

import numpy as np

_BITS = 3  # 8 levels per channel: 512 colour bins, robust to lighting noise
_SAMPLES = 40  # a box is read every (side // this) pixels (cost bounded by size)
_MAX_READ = 2 * _SAMPLES  # ... which reads fewer than this many pixels per side


def _box_slices(box: tuple[float, ...], height: int, width: int) -> tuple[slice, slice] | None:
    x, y, w, h = box
    x1, y1 = max(0, int(round(x))), max(0, int(round(y)))
    x2, y2 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x2 <= x1 or y2 <= y1:
        return None
    sx, sy = max(1, (x2 - x1) // _SAMPLES), max(1, (y2 - y1) // _SAMPLES)
    return slice(y1, y2, sy), slice(x1, x2, sx)


def _bins(pixels: np.ndarray) -> np.ndarray:
    q = (pixels >> (8 - _BITS)).astype(np.intp)
    return (q[..., 0] << (2 * _BITS)) | (q[..., 1] << _BITS) | q[..., 2]


def _histogram(image: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    s = _box_slices(box, *image.shape[:2])
    if s is None:
        return np.zeros(1 << (3 * _BITS))
    return np.bincount(_bins(image[s]).ravel(), minlength=1 << (3 * _BITS)).astype(np.float64)


class ColourModel:
    """Object likelihood of each colour, learnt once from the selection frame."""

    def __init__(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        obj = _histogram(image, box)
        # surroundings: the ring out to twice the box's sides, as the search region sees it
        ring = _histogram(image, (x - w / 2, y - h / 2, 2 * w, 2 * h)) - obj
        obj_p = obj / max(obj.sum(), 1.0)
        ring_p = np.maximum(ring, 0.0) / max(ring.sum(), 1.0)
        self._likelihood = obj_p / (obj_p + ring_p + 1e-6)
        # Per-frame work reuses these (flat, viewed at each box's sampled size).
        self._levels = np.empty(_MAX_READ * _MAX_READ * 3, np.uint8)
        self._bins = np.empty(_MAX_READ * _MAX_READ, np.intp)
        self._channel = np.empty(_MAX_READ * _MAX_READ, np.intp)
        self._values = np.empty(_MAX_READ * _MAX_READ)
        self._reference = max(self._mean_likelihood(image, box), 1e-3)

    def _mean_likelihood(self, image: np.ndarray, box: tuple[float, ...]) -> float:
        """``_likelihood[_bins(pixels)].mean()`` over the box's sampled pixels, computed in
        the preallocated buffers: this runs on every frame.
        """
        s = _box_slices(box, *image.shape[:2])
        if s is None:
            return 0.0
        pixels = image[s]
        rows, cols = pixels.shape[:2]
        n = rows * cols
        levels = self._levels[: n * 3].reshape(rows, cols, 3)
        np.right_shift(pixels, 8 - _BITS, out=levels)
        bins, channel = self._bins[:n].reshape(rows, cols), self._channel[:n].reshape(rows, cols)
        np.copyto(bins, levels[..., 0])
        bins <<= 2 * _BITS
        for c, shift in ((1, _BITS), (2, 0)):
            np.copyto(channel, levels[..., c])
            channel <<= shift
            bins |= channel
        values = self._values[:n]
        np.take(self._likelihood, self._bins[:n], out=values, mode="clip")
        return float(values.mean())

    def agreement(self, image: np.ndarray, box: tuple[float, ...]) -> float:
        """How much of the selection's target colour ``box`` holds, in [0, 1] (1: as much)."""
        return min(1.0, self._mean_likelihood(image, box) / self._reference)
