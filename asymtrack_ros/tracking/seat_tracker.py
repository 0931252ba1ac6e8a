"""SEAT's tracking pipeline (SiamFC-style crops, published post-processing) over any engine.

Crops: side sqrt((w + p)(h + p)) with p = context * (w + h), padded with the image's mean
colour; template side rounded once at init; a larger search size for small targets.
Per frame: sigmoid(cls), boxes from the l, t, r, b distances, scale / aspect-change
penalty, Hanning window, argmax, size smoothed with lr * penalty * score.
"""

from __future__ import annotations

import math

import numpy as np

from ..contracts.engine import Engine
from .crop import CropSampler
from .tracker import Tracker, TrackerParams


def python2round(x: float) -> int:
    """Half away from zero (the original code's rounding of the search side)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def context_side(w: float, h: float, context: float) -> float:
    p = context * (w + h)
    return math.sqrt((w + p) * (h + p))


def template_box(template_size: int, context: float, w: float, h: float) -> np.ndarray:
    """[x1, y1, x2, y2] of a w x h target in its template crop (side rounded as at init)."""
    scale = template_size / round(context_side(w, h, context))
    c = template_size // 2
    return np.array([[c - w * scale / 2, c - h * scale / 2, c + w * scale / 2, c + h * scale / 2]], np.float32)


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _padded_size(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray | float:
    p = (w + h) * 0.5
    return np.sqrt((w + p) * (h + p))


class SeatTracker(Tracker):
    def __init__(self, engine: Engine, params: TrackerParams | None = None) -> None:
        spec = engine.spec
        params = params or TrackerParams()
        ex = spec.extra
        self._context = float(ex["context_amount"])
        self._penalty_k, self._window_influence, self._lr = ex["penalty_k"], ex["window_influence"], ex["lr"]
        self._stride = int(ex["stride"])
        self._big, self._small_ratio = ex.get("search_size_big"), ex.get("small_target_ratio", 0.0)
        # CropSampler reverses the channels when told its input is BGR: do so exactly when
        # the image order differs from the network's.
        self._flip = params.bgr_input != (ex.get("channel_order", "rgb") == "bgr")
        self._crop_args = (spec.mean, spec.std, spec.pixel_scale, self._flip)
        self._template_crop = CropSampler(spec.template_size, *self._crop_args)
        self._search_crops: dict[int, CropSampler] = {}
        self._windows: dict[int, np.ndarray] = {}
        self._cache = None
        self._instance = spec.search_size
        self._border: tuple[float, ...] = (0.0, 0.0, 0.0)
        super().__init__(engine, params)

    def _nominal_side(self, w: float, h: float) -> float:
        """Search side in image pixels (before rounding) for a w x h target."""
        s_z = context_side(w, h, self._context)
        t = self.engine.spec.template_size
        return s_z + (self._instance - t) * s_z / t

    def _search_factor(self, box: tuple[float, ...]) -> float:
        _, _, w, h = box
        return self._nominal_side(w, h) / math.sqrt(w * h)

    def _set_template(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        spec = self.engine.spec
        self._border = tuple(float(v) for v in image.reshape(-1, 3).mean(0))
        small = w * h / float(image.shape[0] * image.shape[1]) < self._small_ratio
        self._instance = self._big if self._big and small else spec.search_size
        s_z = round(context_side(w, h, self._context))
        tensor, _, _ = self._template_crop(image, x + w / 2 - 0.5, y + h / 2 - 0.5, s_z, self._border)
        inputs = {spec.template_inputs[0]: tensor, spec.template_inputs[1]: template_box(
            spec.template_size, self._context, w, h)}  # fmt: skip
        self._cache = self.engine.encode_template(inputs)

    def _window(self, n: int) -> np.ndarray:
        if n not in self._windows:
            self._windows[n] = np.outer(np.hanning(n), np.hanning(n))
        return self._windows[n]

    def _head(
        self, image: np.ndarray, box: tuple[float, ...], factor: float, bias: tuple[float, float]
    ) -> tuple[tuple[float, float, float, float], float, float]:
        """The published post-processing's pick in the search crop about ``box``: its centre
        and size in image pixels (size divided by exp(``bias``) before the change penalty
        judges it), its score and its penalty.
        """
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        nominal = self._nominal_side(w, h)
        growth = max(1.0, factor * math.sqrt(w * h) / nominal)  # > 1 only while re-acquiring
        scale = self.engine.spec.template_size / context_side(w, h, self._context) / growth
        side = python2round(nominal * growth)
        n_in = self._instance
        crop = self._search_crops.get(n_in) or self._search_crops.setdefault(n_in, CropSampler(n_in, *self._crop_args))
        tensor, _, _ = crop(image, cx - 0.5, cy - 0.5, side, self._border)
        out = self.engine.track({self.engine.spec.search_inputs[0]: tensor}, self._cache)
        score = 1.0 / (1.0 + np.exp(-out["cls"][0, 0].astype(np.float64)))
        reg = out["reg"][0].astype(np.float64)
        n = score.shape[0]
        grid = (np.arange(n) - n // 2) * self._stride + n_in // 2
        x1, y1 = grid[None, :] - reg[0], grid[:, None] - reg[1]
        x2, y2 = grid[None, :] + reg[2], grid[:, None] + reg[3]
        pw, ph = (x2 - x1) * math.exp(-bias[0]), (y2 - y1) * math.exp(-bias[1])
        tw, th = w * scale, h * scale
        s_c = _change(_padded_size(pw, ph) / _padded_size(tw, th))
        r_c = _change((tw / th) / (pw / ph))
        penalty = np.exp(-(r_c * s_c - 1) * self._penalty_k)
        pscore = penalty * score * (1 - self._window_influence) + self._window(n) * self._window_influence
        r, c = np.unravel_index(int(pscore.argmax()), pscore.shape)
        ncx = cx + ((x1[r, c] + x2[r, c]) / 2 - n_in // 2) / scale
        ncy = cy + ((y1[r, c] + y2[r, c]) / 2 - n_in // 2) / scale
        return (ncx, ncy, pw[r, c] / scale, ph[r, c] / scale), float(score[r, c]), float(penalty[r, c])

    def _head_size(self, image: np.ndarray, box: tuple[float, ...]) -> tuple[float, float]:
        (_, _, w, h), _, _ = self._head(image, box, self._search_factor(box), (0.0, 0.0))
        return w, h

    def _predict(self, image: np.ndarray, box: tuple[float, ...], factor: float) -> tuple[tuple[float, ...], float]:
        (cx, cy, pw, ph), score, penalty = self._head(image, box, factor, self.size_bias)
        lr = penalty * score * self._lr
        nw = pw * lr + (1 - lr) * box[2]
        nh = ph * lr + (1 - lr) * box[3]
        return (cx - nw / 2, cy - nh / 2, nw, nh), score
