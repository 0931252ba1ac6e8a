"""AsymTrack's tracking pipeline (reference crops, map-back) over any engine."""

from __future__ import annotations

import math

import numpy as np

from ..contracts.engine import Engine
from .crop import CropSampler, crop_box_to_image
from .tracker import Tracker, TrackerParams, TrackState, plausibility


class CornerPosterior:
    """Each corner from the head's own heatmap about the peak a Gaussian prior on the last
    box's corners picks.

    The head's soft-argmax averages every peak in the crop: a look-alike that enters it
    pulls the box across, then takes it. The prior (the target moves a fraction of its size
    per frame) picks the peak that continues the track; the corner is then the expectation
    of the plain heatmap over the 3 x 3 cells about that peak (the cells the score counts).
    Multiplying the prior into the whole heatmap instead biased the size: the tiny head's
    grid is 8 x 8, it places a corner between cells by how it splits the mass between
    neighbours, and a prior about a cell wide reweights that split (the follow demo's van
    was drawn 8 % too tall on its side views). Buffers are preallocated; no array is
    allocated per call.
    """

    def __init__(self, cells: int) -> None:
        n = math.isqrt(cells)
        if n * n != cells:
            raise ValueError(f"corner heatmaps of {cells} cells are not square")
        self.cells = cells
        grid = np.arange(n, dtype=np.float64) / n  # the head's cell coordinates
        self._gx, self._gy = np.tile(grid, n), np.repeat(grid, n)
        # Every cell's 3 x 3 neighbourhood; neighbours past the border repeat the cell itself
        # and are masked out.
        row, col = np.divmod(np.arange(cells), n)
        d_row, d_col = np.divmod(np.arange(9), 3)
        nr, nc = row[:, None] + d_row - 1, col[:, None] + d_col - 1
        self._outside = (nr < 0) | (nr >= n) | (nc < 0) | (nc >= n)
        self._near = np.where(self._outside, np.arange(cells)[:, None], nr * n + nc)
        self._near_x, self._near_y = self._gx[self._near], self._gy[self._near]
        self._work = np.empty(cells)
        self._tmp = np.empty(cells)
        self._win = np.empty(9)
        self._corners = np.empty((2, 2))  # (x, y) of top-left, bottom-right
        self._box = np.empty(4)

    def __call__(self, logits: np.ndarray, prior: tuple[float, float, float, float], sigma: float) -> np.ndarray:
        """``logits`` [2, N] (top-left, bottom-right); ``prior`` the last box (cx, cy, w, h) in
        crop units; ``sigma`` in target sizes. Returns the box (cx, cy, w, h) in crop units.
        """
        cx, cy, w, h = prior
        scale = -0.5 / (sigma * sigma * w * h)
        work, tmp, win = self._work, self._tmp, self._win
        for i, sign in ((0, -0.5), (1, 0.5)):
            np.subtract(self._gx, cx + sign * w, out=work)
            np.square(work, out=work)
            np.subtract(self._gy, cy + sign * h, out=tmp)
            np.square(tmp, out=tmp)
            work += tmp
            work *= scale
            work += logits[i]
            peak = int(work.argmax())
            np.copyto(tmp, logits[i])
            np.take(tmp, self._near[peak], out=win)
            np.copyto(win, -np.inf, where=self._outside[peak])
            win -= win.max()
            np.exp(win, out=win)
            total = win.sum()
            self._corners[i] = win @ self._near_x[peak] / total, win @ self._near_y[peak] / total
        (x1, y1), (x2, y2) = self._corners
        self._box[:] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        return self._box


class AsymTrackTracker(Tracker):
    def __init__(self, engine: Engine, params: TrackerParams | None = None) -> None:
        spec = engine.spec
        params = params or TrackerParams()
        self._template_crop = CropSampler(spec.template_size, spec.mean, spec.std, spec.pixel_scale, params.bgr_input)
        self._search_crop = CropSampler(spec.search_size, spec.mean, spec.std, spec.pixel_scale, params.bgr_input)
        self._cache = None
        # The crop sampler fills the same tensor every frame: one feed dict serves them all.
        self._search_feed = {spec.search_inputs[0]: self._search_crop.tensor}
        self._posterior: CornerPosterior | None = None
        super().__init__(engine, params)

    def _search_factor(self, box: tuple[float, ...]) -> float:
        return self.engine.spec.search_factor

    def _set_template(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        side = CropSampler.side_for(w, h, self.engine.spec.template_factor)
        tensor, _, _ = self._template_crop(image, x + w / 2, y + h / 2, side)
        self._cache = self.engine.encode_template({self.engine.spec.template_inputs[0]: tensor})

    def _head_size(self, image: np.ndarray, box: tuple[float, ...]) -> tuple[float, float]:
        side = CropSampler.side_for(box[2], box[3], self._search_factor(box))
        (_, _, w, h), _ = self._head_box(image, box, side, prior=False)
        return w, h

    def _head_box(
        self, image: np.ndarray, box: tuple[float, ...], side: int, prior: bool
    ) -> tuple[tuple[float, float, float, float], float]:
        """The head's box in image pixels (under the corner prior when ``prior``) and score,
        in a search crop of ``side`` pixels about ``box``.
        """
        x, y, w, h = box
        _, x0, y0 = self._search_crop(image, x + w / 2, y + h / 2, side)
        out = self.engine.track(self._search_feed, self._cache)
        crop_box = out["boxes"][0]
        logits = out.get("corner_logits")  # exports from before it was an output lack it
        sigma = self.params.corner_prior_sigma
        if prior and logits is not None and sigma > 0.0:
            if self._posterior is None or self._posterior.cells != logits.shape[-1]:
                self._posterior = CornerPosterior(logits.shape[-1])
            crop_box = self._posterior(
                logits[0], ((x + w / 2 - x0) / side, (y + h / 2 - y0) / side, w / side, h / side), sigma
            )
        return crop_box_to_image(crop_box, x0, y0, side), float(out["score"][0])

    def _predict(self, image: np.ndarray, box: tuple[float, ...], factor: float) -> tuple[tuple[float, ...], float]:
        side = CropSampler.side_for(box[2], box[3], factor)
        (x, y, w, h), score = self._head_box(image, box, side, prior=self.state == TrackState.TRACKING)
        nw, nh = w * math.exp(-self.size_bias[0]), h * math.exp(-self.size_bias[1])
        pred = (x + (w - nw) / 2, y + (h - nh) / 2, nw, nh)
        p = self.params
        # While tracking, size is already damped and bounded per frame; a re-detection after
        # LOST is also judged by its size against the lost target's.
        k = p.size_penalty_k if self.state == TrackState.LOST else 0.0
        return pred, score * plausibility(pred, box, side, p.window_influence, k)
