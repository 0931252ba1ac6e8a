"""SEAT's tracker over a real sequence, its crops and its geometry."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
from conftest import SEQUENCES
from seat_common import one_torch_thread, seat_io, seat_onnx

from asymtrack_ros.cli import main
from asymtrack_ros.engines.factory import create_tracker
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.evaluation.trackers import make_tracker
from asymtrack_ros.files.sequences import open_frames, read_boxes
from asymtrack_ros.tracking.run import run_sequence
from asymtrack_ros.tracking.seat_tracker import SeatTracker, python2round, template_box
from asymtrack_ros.tracking.tracker import TrackerParams, TrackState


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


class CountingEngine:
    """Wraps an engine to count template encodings and record the search inputs."""

    def __init__(self, engine: OnnxEngine) -> None:
        self.engine, self.spec, self.name, self.provider = engine, engine.spec, engine.name, engine.provider
        self.templates = 0
        self.search_shapes: list[tuple[int, ...]] = []

    def encode_template(self, inputs):
        self.templates += 1
        return self.engine.encode_template(inputs)

    def track(self, inputs, cache):
        self.search_shapes.append(inputs["search"].shape)
        return self.engine.track(inputs, cache)


def _frames(name: str, count: int):
    source = open_frames(SEQUENCES / name)
    return [f for _, f in zip(range(count), source)], read_boxes(SEQUENCES / name / "groundtruth_rect.txt")


def test_tracker_runs_on_a_real_sequence() -> None:
    engine = CountingEngine(OnnxEngine(seat_onnx("al"), providers=["cpu"], threads=1))
    tracker = create_tracker(engine, TrackerParams(bgr_input=True))
    assert isinstance(tracker, SeatTracker)
    frames, gt = _frames("Car4", 12)
    run = run_sequence(tracker, frames, tuple(gt[0]), progress=False)
    assert len(run.boxes) == 12 and engine.templates == 1
    assert all(np.isfinite(b).all() and b[2] >= 10 and b[3] >= 10 for b in map(np.asarray, run.boxes))
    assert all(0.0 <= s <= 1.0 for s in run.scores)
    assert set(run.states) <= {int(TrackState.TRACKING), int(TrackState.LOST)}
    assert engine.search_shapes[0] == (1, 3, 287, 287)


def test_small_targets_get_the_larger_search_size() -> None:
    engine = CountingEngine(OnnxEngine(seat_onnx("al"), providers=["cpu"], threads=1))
    tracker = SeatTracker(engine, TrackerParams(bgr_input=True))
    frames, gt = _frames("wakeboard7", 2)
    h, w = frames[0].shape[:2]
    assert gt[0][2] * gt[0][3] / (h * w) < 0.004
    tracker.init(frames[0], tuple(gt[0]))
    result = tracker.update(frames[1])
    assert set(engine.search_shapes) == {(1, 3, 303, 303)} and np.isfinite(result.box).all()


def test_template_crop_geometry_matches_the_original() -> None:
    for variant, size in (("lt", 128), ("al", 127)):
        io = seat_io(variant)
        for (w, h, _), box in zip(io["template_box_meta_w_h_sz"], io["template_box"]):
            np.testing.assert_allclose(template_box(size, 0.5, w, h)[0], box, atol=1e-4)
    assert (python2round(2.5), python2round(3.5), python2round(-2.5)) == (3, 4, -3)


def test_eval_spec_builds_a_seat_tracker(tmp_path, monkeypatch) -> None:
    tracker = make_tracker(f"seat:{seat_onnx('al')}")
    assert tracker.name.startswith("seat-al")


def test_shipped_seat_weights_track_a_real_sequence(tmp_path) -> None:
    """``--family seat`` alone: the SEAT-lt weights shipped in the package (trained, not
    random) keep the walker of Crossing; ``asymtrack eval --tracker seat`` finds them too.
    """
    seq = SEQUENCES / "Crossing"
    out = tmp_path / "boxes.txt"
    assert main(["track", str(seq), "--family", "seat", "--providers", "cpu", "--out-boxes", str(out)]) == 0
    boxes, gt = read_boxes(out), read_boxes(seq / "groundtruth_rect.txt")
    assert boxes.shape == gt.shape
    lo = np.maximum(boxes[:, :2], gt[:, :2])
    hi = np.minimum(boxes[:, :2] + boxes[:, 2:], gt[:, :2] + gt[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    iou = inter / (np.prod(boxes[:, 2:], 1) + np.prod(gt[:, 2:], 1) - inter)
    assert np.mean(iou[:25] > 0.3) >= 0.9, iou  # random weights lose it within a few frames
    assert make_tracker("seat").name == "seat-lt"
