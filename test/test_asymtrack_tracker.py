"""AsymTrack's post-processing: the corner prior (exported heatmap logits, posterior
soft-argmax, fallback for exports that predate the logits output) and the size bias
measured on the selection frame.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import SEQUENCES, asym_io

from asymtrack_ros.engines.factory import load_engine
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.export import export_onnx
from asymtrack_ros.models.asymtrack import model_spec
from asymtrack_ros.models.checkpoint import load_checkpoint
from asymtrack_ros.resources import default_model_path
from asymtrack_ros.sequences import read_boxes
from asymtrack_ros.tracking.asymtrack_tracker import AsymTrackTracker, CornerPosterior
from asymtrack_ros.tracking.tracker import TrackerParams, TrackState

FLAT = 1e6  # a prior this wide changes nothing


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (480, 640, 3), dtype=np.uint8)
    img[180:270, 300:360] = rng.integers(120, 255, (90, 60, 3), dtype=np.uint8)
    return img


def test_posterior_under_a_flat_prior_is_the_graphs_soft_argmax(tiny_onnx: Path) -> None:
    engine = OnnxEngine(tiny_onnx, providers=["cpu"])
    io = asym_io("tiny")
    cache = engine.encode_template({"template": io["template"][:1]})
    out = engine.track({"search": io["search"][:1]}, cache)
    logits = out["corner_logits"]
    assert logits.shape[:2] == (1, 2) and np.isfinite(logits).all()
    posterior = CornerPosterior(logits.shape[-1])
    box = posterior(logits[0], (0.5, 0.5, 0.25, 0.25), FLAT)
    np.testing.assert_allclose(box, out["boxes"][0], atol=1e-4)


def test_prior_keeps_the_peak_that_continues_the_track() -> None:
    n = 8
    posterior = CornerPosterior(n * n)
    # Two equally sharp targets of 2 x 2 cells: ours at cells (3..5, 3..5), a look-alike
    # one target size to its right.
    logits = np.full((2, n * n), -8.0, np.float32)
    for dx in (0, 2):
        logits[0, 3 * n + 3 + dx] = logits[1, 5 * n + 5 + dx] = 8.0
    ours = (4 / n, 4 / n, 2 / n, 2 / n)
    flat = posterior(logits, ours, FLAT).copy()
    assert flat[0] == pytest.approx(5 / n, abs=1e-3)  # the head alone averages the two
    held = posterior(logits, ours, 0.5)
    # One target size away, the look-alike's peak keeps exp(-2) of its weight.
    assert held[0] - ours[0] == pytest.approx(0.25 * np.exp(-2) / (1 + np.exp(-2)), rel=1e-3)
    np.testing.assert_allclose(held[1:], ours[1:], atol=1e-6)
    with pytest.raises(ValueError, match="not square"):
        CornerPosterior(60)


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="corner_prior_sigma"):
        TrackerParams(corner_prior_sigma=-1.0)
    with pytest.raises(ValueError, match="corner_prior_sigma"):
        TrackerParams(corner_prior_sigma=float("nan"))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="size_calibration"):
            TrackerParams(size_calibration=bad)


def test_size_bias_measured_on_the_selection_is_removed() -> None:
    """The shipped weights draw the Crossing pedestrian's box too wide and too short."""
    seq = SEQUENCES / "Crossing"
    image = cv2.imread(str(sorted((seq / "img").iterdir())[0]))
    box = tuple(float(v) for v in read_boxes(seq / "groundtruth_rect.txt")[0])
    engine = load_engine(default_model_path(), threads=1)
    errors, biases = {}, {}
    for share in (0.0, 0.5, 1.0):
        tracker = AsymTrackTracker(engine, TrackerParams(bgr_input=True, size_calibration=share, size_update_rate=1))
        tracker.init(image, box)
        biases[share] = tracker.size_bias
        _, _, w, h = tracker.update(image).box
        errors[share] = abs(math.log(w / box[2])) + abs(math.log(h / box[3]))
    assert biases[0.0] == (0.0, 0.0)
    assert biases[1.0][0] > 0.2 and biases[1.0][1] < -0.1  # too wide, too short
    assert biases[0.5] == pytest.approx(tuple(b / 2 for b in biases[1.0]))
    assert max(errors[0.5], errors[1.0]) < 0.5 * errors[0.0]


def test_exports_without_the_logits_track_with_the_heads_box(tmp_path: Path, tiny_checkpoint: Path) -> None:
    io = asym_io("tiny")
    example = {"template": torch.from_numpy(io["template"][:1]), "search": torch.from_numpy(io["search"][:1])}
    spec = dataclasses.replace(model_spec("tiny"), outputs=("boxes", "score"))
    old = export_onnx(load_checkpoint(tiny_checkpoint, "tiny"), spec, tmp_path / "old", example)
    engine = OnnxEngine(old, providers=["cpu"])
    img = _scene()
    with_prior = AsymTrackTracker(engine, TrackerParams(lost_threshold=0.0, found_threshold=0.0))
    without = AsymTrackTracker(engine, TrackerParams(lost_threshold=0.0, found_threshold=0.0, corner_prior_sigma=0))
    for tracker in (with_prior, without):
        tracker.init(img, (300, 180, 60, 90))
    for _ in range(3):
        a, b = with_prior.update(img), without.update(img)
        assert a.state == TrackState.TRACKING and a.box == b.box
