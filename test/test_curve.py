"""Learning curves: a run's epoch checkpoints scored on real sequences against the pairs
they had seen, kept so that following a run does not score a point twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEQUENCES
from test_training_loop import _config

from asymtrack_ros.cli import main
from asymtrack_ros.evaluation.curve import checkpoint_points
from asymtrack_ros.files.sequences import read_boxes, write_boxes
from asymtrack_ros.training.trainer import train


def test_curve_scores_each_epoch_at_its_pairs(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    train(_config(), run)  # two epochs of four pairs
    assert [p for p, _ in checkpoint_points(run)] == [4, 8]
    seq = tmp_path / "seqs" / "Crossing"
    (seq / "img").mkdir(parents=True)
    for frame in sorted((SEQUENCES / "Crossing" / "img").glob("*.jpg"))[:6]:
        (seq / "img" / frame.name).symlink_to(frame)
    write_boxes(seq / "groundtruth_rect.txt", read_boxes(SEQUENCES / "Crossing" / "groundtruth_rect.txt")[:6])
    out, png = tmp_path / "curve", tmp_path / "curve.png"
    args = ["curve", "--run", f"a={run}", "--dataset", f"otb:{seq.parent}", "--start", str(tiny_checkpoint)]
    assert main([*args, "--out", str(out), "--plot", str(png)]) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert [p for p, _ in curves["a"]] == [0, 4, 8] and all(0 <= auc <= 1 for _, auc in curves["a"])
    assert png.stat().st_size > 1000 and "a: 0 pairs" in capsys.readouterr().out
    report = out / "a" / "AsymTrack_ep0001" / "report.json"
    stamp = report.stat().st_mtime_ns
    assert main([*args, "--out", str(out)]) == 0
    assert report.stat().st_mtime_ns == stamp  # kept, not run again
    capsys.readouterr()
    assert main(["curve", "--run", str(run), "--dataset", f"otb:{seq.parent}", "--out", str(out)]) != 0
    assert "NAME=RUN_FOLDER" in capsys.readouterr().err
