"""Single-object tracker: validation, TRACKING / LOST state machine with hysteresis and
re-acquisition, over a model family's crop and post-processing (``_predict``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..contracts.engine import Engine
from .colour_model import ColourModel

# Crops of the selection frame the size bias is measured on: the selected box and shifts of a
# tenth of it, as the tracker's crops sit about a converged box.
CALIBRATION_SHIFTS = ((0.0, 0.0), (0.1, 0.0), (-0.1, 0.0), (0.0, 0.1), (0.0, -0.1))
MAX_SIZE_BIAS = math.log(1.5)  # a larger measured bias is clamped to this (log of the ratio)


class TrackState(IntEnum):
    """Values equal the ``TrackedObject`` message constants."""

    IDLE = 0
    TRACKING = 1
    LOST = 2


@dataclass
class TrackerParams:
    lost_threshold: float = 0.3  # a score below this counts towards LOST
    found_threshold: float = 0.45  # while LOST, a score at or above this re-acquires
    lost_patience: int = 3  # consecutive low-score frames before TRACKING -> LOST
    lost_search_growth: float = 1.25  # search region grows by this per lost frame...
    max_search_factor: float = 8.0  # ...up to this multiple of the target size
    min_box_size: float = 3.0  # boxes are clipped to the image keeping at least this (far targets are small)
    max_scale_change: float = 1.5  # per-frame limit on width/height growth or shrink (ratio)
    size_update_rate: float = 0.3  # share of the predicted size change taken per frame at score 1
    # AsymTrack's plausibility of a regressed box (SEAT applies its published values to its map):
    window_influence: float = 0.46  # weight of the cosine window on the centre's jump, [0, 1]
    size_penalty_k: float = 0.15  # exp(-k (size change x aspect change - 1)) on the score, >= 0
    corner_prior_sigma: float = 0.5  # AsymTrack: prior picking the corner peaks while tracking, in target sizes
    size_calibration: float = 0.5  # share of the head's size bias measured at init removed (log), [0, 1]
    colour_floor: float = 0.3  # score x agreement / this where the box holds less of the target's colours; 0: off
    bgr_input: bool = False  # images are RGB unless this is set (OpenCV frames are BGR)

    def __post_init__(self) -> None:
        if not 0.0 <= self.lost_threshold <= self.found_threshold <= 1.0:
            raise ValueError("need 0 <= lost_threshold <= found_threshold <= 1")
        if self.lost_patience < 1 or self.lost_search_growth < 1.0 or self.min_box_size < 1.0:
            raise ValueError("lost_patience >= 1, lost_search_growth >= 1, min_box_size >= 1 required")
        if not self.max_scale_change > 1.0:
            raise ValueError("max_scale_change must be > 1")
        if not 0.0 < self.size_update_rate <= 1.0:
            raise ValueError("size_update_rate must be in (0, 1]")
        if not 0.0 <= self.window_influence <= 1.0 or not self.size_penalty_k >= 0.0:
            raise ValueError("window_influence must be in [0, 1] and size_penalty_k >= 0")
        if not self.corner_prior_sigma >= 0.0:
            raise ValueError("corner_prior_sigma must be >= 0 (0: no prior)")
        if not 0.0 <= self.size_calibration <= 1.0:
            raise ValueError("size_calibration must be in [0, 1]")
        if not 0.0 <= self.colour_floor <= 1.0:
            raise ValueError("colour_floor must be in [0, 1]")


@dataclass(frozen=True)
class TrackResult:
    box: tuple[float, float, float, float]  # x, y, w, h in image pixels (top-left)
    score: float
    state: TrackState


def check_image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a uint8 HxWx3 array, got {desc}")
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"image is empty ({w}x{h})")
    return h, w


def check_box(box: tuple[float, ...] | np.ndarray, height: int, width: int) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be 4 numbers x, y, w, h; got {box!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box has non-finite values: {(x, y, w, h)}")
    if w <= 0 or h <= 0:
        raise ValueError(f"box must have positive size, got w={w}, h={h}")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ValueError(f"box {(x, y, w, h)} lies outside the {width}x{height} image")
    return x, y, w, h


def clip_box(box: tuple[float, float, float, float], height: int, width: int, margin: float) -> tuple[float, ...]:
    x, y, w, h = box
    x1 = min(max(0.0, x), width - margin)
    y1 = min(max(0.0, y), height - margin)
    x2 = min(max(margin, x + w), float(width))
    y2 = min(max(margin, y + h), float(height))
    return x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)


def limit_scale_change(box: tuple[float, ...], previous: tuple[float, ...], ratio: float) -> tuple[float, ...]:
    """Bound the per-frame size change about the new centre: a size over-estimate must not
    feed back through an ever larger search region until the box fills the image.
    """
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box):
        return box
    nw = min(max(w, previous[2] / ratio), previous[2] * ratio)
    nh = min(max(h, previous[3] / ratio), previous[3] * ratio)
    return x + (w - nw) / 2, y + (h - nh) / 2, nw, nh


def smooth_size(box: tuple[float, ...], previous: tuple[float, ...], rate: float) -> tuple[float, ...]:
    """Take ``rate`` of the size change about the new centre, as Siamese trackers damp
    their scale: a single frame's size error then cannot compound through the next crop.
    """
    x, y, w, h = box
    nw, nh = previous[2] + rate * (w - previous[2]), previous[3] + rate * (h - previous[3])
    return x + (w - nw) / 2, y + (h - nh) / 2, nw, nh


def plausibility(
    box: tuple[float, ...], previous: tuple[float, ...], side: float, window_influence: float, k: float
) -> float:
    """Factor in [0, 1] on the score of a box regressed in a search crop of ``side`` pixels
    centred on ``previous``: the Siamese trackers' size / aspect change penalty, and their
    cosine window over the crop, applied to the one box a regression head gives. A target
    does not jump across the crop or change size several-fold between frames; an occluder
    or a look-alike that draws the box there does.
    """
    x, y, w, h = box
    px, py, pw, ph = previous
    if not all(math.isfinite(v) for v in box):
        return 0.0
    factor = 1.0
    if k > 0.0:
        if w <= 0 or h <= 0:  # swapped corners: no size to judge, nothing to trust
            return 0.0
        s = math.sqrt((w * h) / (pw * ph))
        r = (w / h) / (pw / ph)
        factor = math.exp(-k * (max(s, 1 / s) * max(r, 1 / r) - 1))
    if window_influence > 0.0:
        half = side / 2
        dx = (x + w / 2 - (px + pw / 2)) / half
        dy = (y + h / 2 - (py + ph / 2)) / half
        window = math.prod(0.5 * (1 + math.cos(math.pi * min(abs(d), 1.0))) for d in (dx, dy))
        factor *= 1 - window_influence + window_influence * window
    return factor


class Tracker(ABC):
    def __init__(self, engine: Engine, params: TrackerParams | None = None) -> None:
        self.engine = engine
        self.params = params or TrackerParams()
        self.reset()

    def reset(self) -> None:
        self.state = TrackState.IDLE
        self.box: tuple[float, float, float, float] | None = None
        self._low_frames = 0
        self._lost_frames = 0
        self._colours: ColourModel | None = None
        self.size_bias = (0.0, 0.0)  # log(head / selected) width and height, as corrected

    def init(self, image: np.ndarray, box: tuple[float, ...]) -> None:
        """Start tracking ``box`` (x, y, w, h); replaces any current target."""
        h, w = check_image(image)
        box = check_box(box, h, w)
        self._set_template(image, box)  # validated first: a bad call changes nothing
        self.size_bias = (0.0, 0.0)
        if self.params.size_calibration > 0.0:
            self.size_bias = self._measure_size_bias(image, box)
        self.box = box
        self._colours = ColourModel(image, box) if self.params.colour_floor > 0.0 else None
        self.state = TrackState.TRACKING
        self._low_frames = self._lost_frames = 0

    def update(self, image: np.ndarray) -> TrackResult:
        if self.state == TrackState.IDLE or self.box is None:
            raise RuntimeError("update() before init()")
        h, w = check_image(image)
        factor = self._search_factor(self.box)
        if self.state == TrackState.LOST:
            factor = min(self.params.max_search_factor, factor * self.params.lost_search_growth**self._lost_frames)
        p = self.params
        box, score = self._predict(image, self.box, factor)
        if not all(math.isfinite(v) for v in box) or not math.isfinite(score):
            box, score = self.box, 0.0
        if self._colours is not None:
            score *= min(1.0, self._colours.agreement(image, box) / p.colour_floor)
        # Siamese trackers' size learning rate: the less sure, the less the size moves.
        rate = p.size_update_rate * min(max(score, 0.0), 1.0)
        box = limit_scale_change(smooth_size(box, self.box, rate), self.box, p.max_scale_change)
        box = clip_box(box, h, w, p.min_box_size)
        if self.state == TrackState.TRACKING:
            if score < p.lost_threshold:  # the box stays where it was last believed
                self._low_frames += 1
                if self._low_frames >= p.lost_patience:
                    self.state, self._lost_frames = TrackState.LOST, 0
            else:
                self.box, self._low_frames = box, 0
        elif score >= p.found_threshold:
            self.state, self.box, self._low_frames = TrackState.TRACKING, box, 0
        else:
            self._lost_frames += 1
        return TrackResult(self.box, score, self.state)

    def _measure_size_bias(self, image: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float]:
        """The head's size error on the one frame whose box is known, the selection's.

        The error depends on the target's appearance (a face drawn with a person's tall box,
        a pedestrian too wide) and compounds: a box too large makes the next crop larger, and
        the head sees the target smaller than it is only in part. Measured once and removed,
        in part, from every later box (``size_calibration``: the share removed, as the
        measurement on one frame is itself uncertain).
        """
        x, y, w, h = box
        logs = np.zeros(2)
        for dx, dy in CALIBRATION_SHIFTS:
            pw, ph = self._head_size(image, (x + dx * w, y + dy * h, w, h))
            if not (pw > 0.0 and ph > 0.0 and math.isfinite(pw * ph)):
                return 0.0, 0.0
            logs += (math.log(pw / w), math.log(ph / h))
        logs = np.clip(logs / len(CALIBRATION_SHIFTS), -MAX_SIZE_BIAS, MAX_SIZE_BIAS) * self.params.size_calibration
        return float(logs[0]), float(logs[1])

    @abstractmethod
    def _head_size(self, image: np.ndarray, box: tuple[float, ...]) -> tuple[float, float]:
        """Width and height (image pixels, uncorrected) the head gives in the tracking crop
        about ``box``.
        """

    @abstractmethod
    def _search_factor(self, box: tuple[float, ...]) -> float:
        """Search region side as a multiple of sqrt(w*h) while tracking ``box``."""

    @abstractmethod
    def _set_template(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        """Compute and keep the template cache for ``box``."""

    @abstractmethod
    def _predict(self, image: np.ndarray, box: tuple[float, ...], factor: float) -> tuple[tuple[float, ...], float]:
        """Box (x, y, w, h, image pixels, unclipped) and score in [0, 1] near ``box``."""
