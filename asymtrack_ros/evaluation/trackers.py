"""Trackers under test behind one interface, so that ours and the baselines run through
the same loop and the same timing. Frames are BGR (as OpenCV decodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np


class BoxTracker(Protocol):
    name: str

    def init(self, frame: np.ndarray, box: tuple[float, ...]) -> None: ...

    def update(self, frame: np.ndarray) -> tuple[float, float, float, float]: ...


class PackageTracker:
    """Trackers of this package (any model family and engine)."""

    def __init__(
        self,
        model: str | None,
        engine: str = "auto",
        providers: str = "cpu",
        params: dict | None = None,
        family: str | None = None,
        precision: str = "auto",
        spin: bool = True,
    ) -> None:
        from ..engines.factory import create_tracker, load_engine

        self._engine = load_engine(
            model, engine, providers=providers.split(","), family=family, precision=precision, spin=spin
        )
        spec = self._engine.spec
        self.name = f"{spec.family}-{spec.variant}" + (f" ({Path(model).stem})" if model else "")
        if precision != "auto":
            self.name += f" {precision}"
        self._tracker = create_tracker(self._engine, tracker_params(params))

    def init(self, frame: np.ndarray, box: tuple[float, ...]) -> None:
        self._tracker.init(frame, box)

    def update(self, frame: np.ndarray) -> tuple[float, float, float, float]:
        return self._tracker.update(frame).box


class OpenCVTracker:
    """OpenCV's trackers; a failed update keeps the previous box (as toolkits record it)."""

    def __init__(self, name: str, factory) -> None:
        self.name = name
        self._factory = factory
        self._tracker = None
        self._box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def init(self, frame: np.ndarray, box: tuple[float, ...]) -> None:
        self._tracker = self._factory()
        rect = tuple(int(round(v)) for v in box)
        self._tracker.init(frame, rect)
        self._box = tuple(float(v) for v in box)

    def update(self, frame: np.ndarray) -> tuple[float, float, float, float]:
        ok, rect = self._tracker.update(frame)
        if ok:
            self._box = tuple(float(v) for v in rect)
        return self._box


def _require(attr: str):
    factory = getattr(cv2, attr, None)
    if factory is None:
        raise ValueError(f"this OpenCV build has no cv2.{attr}; install opencv-contrib-python-headless")
    return factory


def _nano(spec: str):
    paths = spec.split(",")
    if len(paths) != 2 or not all(Path(p).is_file() for p in paths):
        raise ValueError(f"nano needs BACKBONE.onnx,NECKHEAD.onnx files, got {spec!r}")
    params = _require("TrackerNano_Params")()
    params.backbone, params.neckhead = paths
    return lambda: _require("TrackerNano").create(params)


def _vit(spec: str):
    if not Path(spec).is_file():
        raise ValueError(f"vit needs the tracker's ONNX file, got {spec!r}")
    params = _require("TrackerVit_Params")()
    params.net = spec
    return lambda: _require("TrackerVit").create(params)


def tracker_params(overrides: dict | None = None):
    """The tracker's defaults with ``overrides`` (``TrackerParams`` names); BGR frames."""
    from ..tracking.tracker import TrackerParams

    try:
        return TrackerParams(**{**(overrides or {}), "bgr_input": True})
    except TypeError as err:  # a name TrackerParams does not have
        raise ValueError(f"unknown tracker parameter: {err}") from None


def make_tracker(spec: str, params: dict | None = None, spin: bool = True) -> BoxTracker:
    """``asymtrack[:MODEL[:ENGINE[:PRECISION]]]``, ``seat[:MODEL[:ENGINE]]`` (no model: the
    family's shipped weights; PRECISION auto, fp32 or int8), ``csrt``, ``kcf``, ``mil``,
    ``nano:BACKBONE,NECKHEAD``, ``vit:NET.onnx`` or ``lightfc:FOLDER`` (or
    ``lightfc:BACKBONE.onnx,TRACKING.onnx``); ``params`` override this package's
    trackers' parameters; ``spin=False``: their onnxruntime sessions do not spin-wait
    between frames (for trackers taking turns). Built inside each worker process (engines
    do not pickle).
    """
    kind, _, rest = spec.partition(":")
    if kind in ("asymtrack", "seat"):
        model, _, rest = rest.partition(":")
        engine, _, precision = rest.partition(":")
        family = "seat" if kind == "seat" and not model else None  # asymtrack: $ASYMTRACK_MODEL first
        precision = precision or "auto"
        return PackageTracker(
            model or None, engine or "auto", params=params, family=family, precision=precision, spin=spin
        )
    if kind in ("csrt", "kcf", "mil"):
        cls = _require({"csrt": "TrackerCSRT", "kcf": "TrackerKCF", "mil": "TrackerMIL"}[kind])
        return OpenCVTracker(kind.upper(), cls.create)
    if kind == "nano":
        return OpenCVTracker("NanoTrack", _nano(rest))
    if kind == "vit":
        return OpenCVTracker("VitTrack", _vit(rest))
    if kind == "lightfc":
        from ..tracking.lightfc import LightFCTracker

        return LightFCTracker(rest, spin=spin)
    raise ValueError(
        f"unknown tracker {spec!r}; expected asymtrack[:MODEL[:ENGINE[:PRECISION]]], seat[:MODEL[:ENGINE]], "
        "csrt, kcf, mil, nano:, vit:, lightfc:"
    )
