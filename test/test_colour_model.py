"""The colour check: a box on an occluder of other colours loses the score the network gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.tracking.asymtrack_tracker import AsymTrackTracker
from asymtrack_ros.tracking.colour_model import ColourModel
from asymtrack_ros.tracking.tracker import TrackerParams, TrackState

TARGET = (300, 180, 60, 90)


def _road(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(110, 12, (480, 640, 3)), 0, 255).astype(np.uint8)  # grey asphalt


def _with_van(img: np.ndarray, box=TARGET) -> np.ndarray:
    x, y, w, h = box
    img[y : y + h, x : x + w] = (40, 70, 200)
    img[y + h // 2 : y + h // 2 + 8, x : x + w] = (215, 185, 55)  # stripe
    return img


def _with_sign(img: np.ndarray, box=TARGET) -> np.ndarray:
    """A green sign with white lettering over ``box`` (hides what is there)."""
    x, y, w, h = box
    img[y - 10 : y + h + 10, x - 20 : x + w + 20] = (60, 120, 20)
    img[y + 20 : y + h - 20 : 6, x : x + w] = 245
    return img


def test_agreement_follows_the_targets_colours() -> None:
    first = _with_van(_road())
    model = ColourModel(first, TARGET)
    assert model.agreement(first, TARGET) == pytest.approx(1.0)
    moved = (420, 260, 60, 90)
    assert model.agreement(_with_van(_road(1), moved), moved) > 0.9  # the same van elsewhere
    assert model.agreement(_with_sign(_with_van(_road(1))), TARGET) < 0.1  # hidden behind a sign
    assert model.agreement(first, (0, 0, 60, 90)) < 0.1  # bare road
    assert model.agreement(first, (5000, 5000, 10, 10)) == 0.0  # off the image: nothing of it


def test_colour_floor_is_validated() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="colour_floor"):
            TrackerParams(colour_floor=bad)


def test_an_occluder_of_other_colours_sends_the_tracker_lost(tiny_onnx: Path) -> None:
    engine = OnnxEngine(tiny_onnx, providers=["cpu"])
    base = dict(lost_threshold=0.3, found_threshold=0.45, lost_patience=2, bgr_input=True)
    checked = AsymTrackTracker(engine, TrackerParams(colour_floor=0.3, **base))
    network_only = AsymTrackTracker(engine, TrackerParams(colour_floor=0.0, **base))
    first = _with_van(_road())
    for tracker in (checked, network_only):
        tracker.init(first, TARGET)
    # the van in view: the check takes nothing off the network's score
    seen = _with_van(_road(1))
    assert checked.update(seen).score == pytest.approx(network_only.update(seen).score)
    held = checked.box
    occluded = _with_sign(_with_van(_road(2)))
    results = [checked.update(occluded) for _ in range(3)]
    raw = network_only.update(occluded).score
    assert results[0].score < 0.34 * raw  # scaled by agreement / floor, agreement < 0.1
    assert [r.state for r in results] == [TrackState.TRACKING, TrackState.LOST, TrackState.LOST]
    assert all(r.box == held for r in results)  # the box stays where the van was last seen


def test_the_per_frame_check_allocates_no_arrays() -> None:
    """It runs on every frame: its work arrays are made once. numpy reports array memory to
    tracemalloc; what remains per call is numpy's own casting buffers (about 10 KB), where
    the arrays of one call used to take 77-300 KB.
    """
    import tracemalloc

    frame = _with_van(_road())
    model = ColourModel(frame, TARGET)
    boxes = [TARGET, (0, 0, 640, 480), (10, 10, 79, 79), (630, 470, 30, 30), (300, 180, 3, 200)]
    expected = [model.agreement(frame, b) for b in boxes]  # warm-up
    got, peaks = [], []
    tracemalloc.start()
    try:
        for box in boxes:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            got.append(model.agreement(frame, box))
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    assert got == expected
    assert max(peaks) < 16384, peaks
