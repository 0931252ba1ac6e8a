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

from asymtrack_ros.deploy.export import export_onnx
from asymtrack_ros.engines.factory import load_engine
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.files.resources import default_model_path
from asymtrack_ros.files.sequences import read_boxes
from asymtrack_ros.models.asymtrack_variants import model_spec
from asymtrack_ros.models.checkpoint import load_checkpoint
from asymtrack_ros.tracking.asymtrack_tracker import AsymTrackTracker, CornerPosterior
from asymtrack_ros.tracking.crop import CropSampler
from asymtrack_ros.tracking.tracker import TrackerParams, TrackState

FLAT = 1e6  # a prior this wide changes nothing


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (480, 640, 3), dtype=np.uint8)
    img[180:270, 300:360] = rng.integers(120, 255, (90, 60, 3), dtype=np.uint8)
    return img


def test_posterior_under_a_flat_prior_is_the_graphs_soft_argmax() -> None:
    """Where the head's mass sits about one peak (the shipped weights on a real frame), the
    corners from the 3 x 3 cells about it are the graph's own box, same cell coordinates:
    the expectations over the window and over the map differ by at most the mass outside
    the window (coordinates span [0, 1)), in each corner's x and y.
    """
    seq = SEQUENCES / "Crossing"
    image = cv2.imread(str(sorted((seq / "img").iterdir())[0]))
    x, y, w, h = (float(v) for v in read_boxes(seq / "groundtruth_rect.txt")[0])
    engine = load_engine(default_model_path(), threads=1)
    tracker = AsymTrackTracker(engine, TrackerParams(bgr_input=True))
    tracker.init(image, (x, y, w, h))
    side = CropSampler.side_for(w, h, engine.spec.search_factor)
    crop, _, _ = CropSampler(engine.spec.search_size, engine.spec.mean, engine.spec.std, engine.spec.pixel_scale, True)(
        image, x + w / 2, y + h / 2, side
    )
    out = engine.track({engine.spec.search_inputs[0]: crop}, tracker._cache)
    logits = out["corner_logits"]
    assert logits.shape[:2] == (1, 2) and np.isfinite(logits).all()
    box = CornerPosterior(logits.shape[-1])(logits[0], (0.5, 0.5, 0.25, 0.25), FLAT)
    n = int(np.sqrt(logits.shape[-1]))
    outside = []
    for corner in logits[0].astype(np.float64):
        p = np.exp(corner - corner.max()).reshape(n, n)
        p /= p.sum()
        r, c = np.unravel_index(np.argmax(p), p.shape)
        outside.append(1.0 - p[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].sum())
    assert max(outside) < 0.05  # one peak holds the mass
    corners = lambda b: np.array([b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2])  # noqa: E731
    bound = np.repeat(outside, 2) + 1e-5
    assert (np.abs(corners(box) - corners(out["boxes"][0])) <= bound).all()


def _two_targets(n: int, lookalike: float) -> np.ndarray:
    """Sharp corners of 2 x 2-cell targets: ours at cells (3..5, 3..5), a look-alike one
    target size to its right with peak logit ``lookalike``.
    """
    logits = np.full((2, n * n), -8.0, np.float32)
    for dx, peak in ((0, 8.0), (2, lookalike)):
        logits[0, 3 * n + 3 + dx] = logits[1, 5 * n + 5 + dx] = peak
    return logits


def test_prior_keeps_the_peak_that_continues_the_track() -> None:
    n = 8
    posterior = CornerPosterior(n * n)
    logits = _two_targets(n, lookalike=8.5)
    ours = (4 / n, 4 / n, 2 / n, 2 / n)
    flat = posterior(logits, ours, FLAT).copy()
    np.testing.assert_allclose(flat, (6 / n, 4 / n, 2 / n, 2 / n), atol=1e-3)  # the stronger look-alike
    held = posterior(logits, ours, 0.5)
    np.testing.assert_allclose(held, ours, atol=1e-6)  # its mass is outside the chosen peak's cells
    with pytest.raises(ValueError, match="not square"):
        CornerPosterior(60)


@pytest.mark.parametrize("split", [0.3, 0.5, 0.8])
def test_prior_leaves_the_heads_placement_between_cells(split: float) -> None:
    """The head places a corner between two cells by how it splits its mass; a prior about a
    cell wide must not reweight that split (it drew boxes too tall when it did).
    """
    n = 8
    posterior = CornerPosterior(n * n)
    logits = np.full((2, n * n), -30.0)
    logits[0, 3 * n + 3], logits[0, 4 * n + 3] = math.log(1 - split), math.log(split)  # top-left: y 3..4
    logits[1, 5 * n + 5] = 0.0  # bottom-right: cell (5, 5)
    top = (3 + split) / n
    head = ((3 / n + 5 / n) / 2, (top + 5 / n) / 2, 2 / n, 5 / n - top)
    for prior in (head, (4 / n, 4 / n, 2 / n, 2 / n), (4.4 / n, 3.6 / n, 2.4 / n, 1.8 / n)):
        np.testing.assert_allclose(posterior(logits, prior, 0.5), head, atol=1e-9)


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="corner_prior_sigma"):
        TrackerParams(corner_prior_sigma=-1.0)
    with pytest.raises(ValueError, match="corner_prior_sigma"):
        TrackerParams(corner_prior_sigma=float("nan"))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="size_calibration"):
            TrackerParams(size_calibration=bad)


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
