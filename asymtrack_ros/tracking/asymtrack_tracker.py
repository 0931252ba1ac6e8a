"""AsymTrack's tracking pipeline (reference crops, map-back) over any engine."""

from __future__ import annotations

import numpy as np

from ..engines.base import Engine
from .crop import CropSampler, crop_box_to_image
from .tracker import Tracker, TrackerParams, TrackState, plausibility


class AsymTrackTracker(Tracker):
    def __init__(self, engine: Engine, params: TrackerParams | None = None) -> None:
        spec = engine.spec
        params = params or TrackerParams()
        self._template_crop = CropSampler(spec.template_size, spec.mean, spec.std, spec.pixel_scale, params.bgr_input)
        self._search_crop = CropSampler(spec.search_size, spec.mean, spec.std, spec.pixel_scale, params.bgr_input)
        self._cache = None
        self._search_name = spec.search_inputs[0]
        super().__init__(engine, params)

    def _search_factor(self) -> float:
        return self.engine.spec.search_factor

    def _set_template(self, image: np.ndarray, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        side = CropSampler.side_for(w, h, self.engine.spec.template_factor)
        tensor, _, _ = self._template_crop(image, x + w / 2, y + h / 2, side)
        self._cache = self.engine.encode_template({self.engine.spec.template_inputs[0]: tensor})

    def _predict(self, image: np.ndarray, box: tuple[float, ...], factor: float) -> tuple[tuple[float, ...], float]:
        x, y, w, h = box
        side = CropSampler.side_for(w, h, factor)
        tensor, x0, y0 = self._search_crop(image, x + w / 2, y + h / 2, side)
        out = self.engine.track({self._search_name: tensor}, self._cache)
        pred = crop_box_to_image(out["boxes"][0], x0, y0, side)
        p = self.params
        # While tracking, size is already damped and bounded per frame; a re-detection after
        # LOST is also judged by its size against the lost target's.
        k = p.size_penalty_k if self.state == TrackState.LOST else 0.0
        return pred, float(out["score"][0]) * plausibility(pred, box, side, p.window_influence, k)
