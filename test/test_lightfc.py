"""LightFC, the peer tracker and tracking teacher: its published W8A8 graphs on real
onnxruntime, on a real sequence.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SEQUENCES, SHARED

from asymtrack_ros.evaluation.metrics import iou
from asymtrack_ros.evaluation.trackers import make_tracker
from asymtrack_ros.files.sequences import read_boxes
from asymtrack_ros.tracking.lightfc import clip_box, decode, hann_window, model_files

PEERS = SHARED / "peers"


def test_decode_reads_the_box_at_the_windowed_peak() -> None:
    score = np.zeros((1, 1, 16, 16), np.float32)
    score[0, 0, 3, 12] = 0.9  # near the border: the window lowers it below the centre's
    score[0, 0, 8, 7] = 0.6
    size = np.full((1, 2, 16, 16), 0.25, np.float32)
    offset = np.full((1, 2, 16, 16), 0.5, np.float32)
    box, peak = decode(score, size, offset)
    assert box.tolist() == pytest.approx([12.5 / 16, 3.5 / 16, 0.25, 0.25]) and peak == pytest.approx(0.9)
    box, peak = decode(score, size, offset, hann_window())
    assert box.tolist() == pytest.approx([7.5 / 16, 8.5 / 16, 0.25, 0.25]) and peak == pytest.approx(0.6)
    w = hann_window()
    assert w.shape == (16, 16) and w.min() > 0 and np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])


def test_boxes_are_clipped_to_the_image_with_a_margin() -> None:
    assert clip_box((-10, 5, 30, 20), 100, 50) == (0.0, 5.0, 20.0, 20.0)
    assert clip_box((120, 60, 10, 10), 100, 50) == (98.0, 48.0, 2.0, 2.0)


def test_model_files_name_what_is_missing(tmp_path: Path) -> None:
    assert all(p.is_file() for p in model_files(PEERS))
    with pytest.raises(ValueError, match="not found"):
        model_files(tmp_path)
    with pytest.raises(ValueError, match="BACKBONE.onnx,TRACKING.onnx"):
        model_files("a.onnx,b.onnx,c.onnx")


def test_lightfc_tracks_a_real_sequence() -> None:
    """The eval peer (``lightfc:FOLDER``) keeps the target of Crossing's first 40 frames."""
    seq = SEQUENCES / "Crossing"
    frames = sorted((seq / "img").glob("*.jpg"))[:40]
    gt = read_boxes(seq / "groundtruth_rect.txt")[:40]
    tracker = make_tracker(f"lightfc:{PEERS}")
    assert tracker.name == "LightFC"
    tracker.init(cv2.imread(str(frames[0])), tuple(gt[0]))
    boxes = np.array([gt[0]] + [tracker.update(cv2.imread(str(f))) for f in frames[1:]])
    overlaps = iou(boxes, gt)
    assert overlaps.mean() > 0.6 and overlaps.min() > 0.3
    assert 0.0 <= tracker.score <= 1.0
    with pytest.raises(ValueError, match="positive finite size"):
        tracker.init(cv2.imread(str(frames[0])), (10, 10, 0, 5))
