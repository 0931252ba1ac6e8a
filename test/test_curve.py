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
from asymtrack_ros.files.sequences import read_boxes
from asymtrack_ros.training.trainer import train


def test_curve_scores_each_epoch_at_its_pairs(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    train(_config(), run)  # two epochs of four pairs
    assert [p for p, _ in checkpoint_points(run)] == [4, 8]
    seq = SEQUENCES / "Crossing"
    out, png = tmp_path / "curve", tmp_path / "curve.png"
    args = [
        "curve",
        "--run",
        f"a={run}",
        "--dataset",
        f"otb:{seq}",
        "--first-frames",
        "6",
        "--start",
        str(tiny_checkpoint),
    ]
    assert main([*args, "--out", str(out), "--plot", str(png)]) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert [p for p, _ in curves["a"]] == [0, 4, 8] and all(0 <= auc <= 1 for _, auc in curves["a"])
    assert png.stat().st_size > 1000 and "a: 0 pairs" in capsys.readouterr().out
    report = out / "a" / "AsymTrack_ep0001" / "report.json"
    stamp = report.stat().st_mtime_ns
    assert main([*args, "--out", str(out)]) == 0
    assert report.stat().st_mtime_ns == stamp  # kept, not run again
    assert len(read_boxes(out / "start" / "results" / "asymtrack-tiny_tiny.pth" / "Crossing.txt")) == 6
    capsys.readouterr()
    assert main(["curve", "--run", str(run), "--dataset", f"otb:{seq}", "--out", str(out)]) != 0
    assert "NAME=RUN_FOLDER" in capsys.readouterr().err
