"""Evaluation toolkit: metrics by hand and against the GOT-10k toolkit, dataset readers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SEQUENCES

from asymtrack_ros.cli import main
from asymtrack_ros.evaluation.datasets import load_dataset, polygons_to_boxes, read_otb
from asymtrack_ros.evaluation.metrics import aggregate, iou, score_sequence
from asymtrack_ros.evaluation.trackers import make_tracker
from asymtrack_ros.files.sequences import read_boxes, write_boxes


def test_iou_and_success_by_hand() -> None:
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 20]], float)
    np.testing.assert_allclose(iou(pred, gt), [1.0, 50 / 150, 0.0, 0.5], atol=1e-12)
    s = score_sequence(pred, gt)
    # success(t) = fraction of frames with IoU strictly above t, t = 0, 0.05, ..., 1
    assert s.success[0] == 0.75 and s.success[6] == 0.75 and s.success[7] == 0.5 and s.success[10] == 0.25
    assert s.success[20] == 0.0
    # centre errors: 0, 5, 24.7, 5 px -> precision at 20 px = 0.75, at 4 px = 0.25
    assert s.precision20 == 0.75 and s.precision[4] == 0.25 and s.precision[25] == 1.0
    # AO and SR skip the first frame: IoUs 1/3, 0, 0.5
    assert s.ao == pytest.approx((1 / 3 + 0 + 0.5) / 3) and s.sr50 == 0.0 and s.sr75 == 0.0
    assert s.lost_events == 1


def test_absent_frames_are_excluded() -> None:
    gt = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 0, 0], [0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [50, 50, 5, 5], [50, 50, 5, 5], [0, 0, 10, 10]], float)
    s = score_sequence(pred, gt)
    assert s.auc == pytest.approx(np.mean(np.linspace(0, 1, 21) < 1.0)) and s.ao == 1.0


def test_matches_got10k_toolkit_on_the_same_result_files(tmp_path: Path) -> None:
    """Our AUC and precision equal the GOT-10k toolkit's OTB definitions to 1e-6."""
    from got10k.experiments.otb import ExperimentOTB
    from got10k.utils.metrics import center_error, rect_iou

    toolkit = ExperimentOTB.__new__(ExperimentOTB)
    toolkit.nbins_iou, toolkit.nbins_ce = 21, 51
    rng = np.random.default_rng(3)
    ours, theirs = [], []
    for k in range(5):
        gt = np.column_stack([rng.uniform(0, 300, (80, 2)), rng.uniform(10, 80, (80, 2))])
        pred = gt + rng.normal(0, 12, gt.shape)
        pred[:, 2:] = np.abs(pred[:, 2:]) + 1
        pred[0] = gt[0]
        write_boxes(tmp_path / f"s{k}.txt", pred)
        pred = read_boxes(tmp_path / f"s{k}.txt")
        ours.append(score_sequence(pred, gt))
        theirs.append(toolkit._calc_curves(rect_iou(pred, gt), center_error(pred, gt)))
    agg = aggregate(ours)
    succ = np.mean([t[0] for t in theirs], axis=0)
    prec = np.mean([t[1] for t in theirs], axis=0)
    assert abs(agg["auc"] - np.mean(succ)) < 1e-6
    assert abs(agg["precision20"] - prec[20]) < 1e-6
    np.testing.assert_allclose(agg["success_curve"], succ, atol=1e-12)


def _write_frames(folder: Path, n: int, name: str = "{:08d}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / name.format(i + 1)), np.full((40, 60, 3), i * 20, np.uint8))


def test_readers_for_each_layout(tmp_path: Path) -> None:
    # GOT-10k
    g = tmp_path / "got" / "GOT-10k_Val_000001"
    _write_frames(g, 3)
    (g / "groundtruth.txt").write_text("1,2,10,12\n2,3,10,12\n3,4,10,12\n")
    (g / "absence.label").write_text("0\n1\n0\n")
    got = load_dataset(f"got10k:{tmp_path / 'got'}")
    assert got[0].frames.count == 3 and np.isnan(got[0].groundtruth[1]).all()
    # LaSOT
    s = tmp_path / "lasot" / "cat" / "cat-1"
    _write_frames(s / "img", 3)
    (s / "groundtruth.txt").write_text("1,2,10,12\n1,2,10,12\n1,2,10,12\n")
    (s / "full_occlusion.txt").write_text("0,0,1")
    (s / "out_of_view.txt").write_text("0,1,0")
    lasot = load_dataset(f"lasot:{tmp_path / 'lasot'}")
    assert lasot[0].name == "cat-1" and np.isnan(lasot[0].groundtruth[1:]).all()
    # UAV123: annotations apart from the images
    _write_frames(tmp_path / "uav" / "data_seq" / "UAV123" / "bike1", 2, "{:06d}.jpg")
    (tmp_path / "uav" / "anno" / "UAV123").mkdir(parents=True)
    (tmp_path / "uav" / "anno" / "UAV123" / "bike1.txt").write_text("5,5,20,20\nNaN,NaN,NaN,NaN\n")
    uav = load_dataset(f"uav123:{tmp_path / 'uav'}")
    assert uav[0].name == "bike1" and np.isnan(uav[0].groundtruth[1]).all()
    # VOT: 8-value polygons become axis-aligned boxes
    v = tmp_path / "vot" / "sequences" / "ball"
    _write_frames(v / "color", 2)
    (v / "groundtruth.txt").write_text("10,10,30,10,30,20,10,20\n5,5,10,10\n")
    vot = load_dataset(f"vot:{tmp_path / 'vot'}")
    np.testing.assert_allclose(vot[0].groundtruth, [[10, 10, 20, 10], [5, 5, 10, 10]])
    # OTB: the shared sequences (separators vary between them)
    otb = read_otb(SEQUENCES)
    assert {q.name for q in otb} == {"Car4", "Crossing", "DragonBaby", "wakeboard7"}
    assert all(q.frames.count == len(q.groundtruth) for q in otb)


def test_rotated_polygon_box() -> None:
    poly = np.array([[0, 5, 5, 0, 10, 5, 5, 10]], float)
    np.testing.assert_allclose(polygons_to_boxes(poly), [[0, 0, 10, 10]])


def test_malformed_annotations_name_file_and_line(tmp_path: Path) -> None:
    v = tmp_path / "vot" / "bad"
    _write_frames(v, 2)
    (v / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:2: expected 4 or 8 values"):
        load_dataset(f"vot:{tmp_path / 'vot'}")
    g = tmp_path / "got" / "s1"
    _write_frames(g, 2)
    (g / "groundtruth.txt").write_text("1,2,3,4\nfoo,2,3,4\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:2: not numbers"):
        load_dataset(f"got10k:{tmp_path / 'got'}")
    with pytest.raises(ValueError, match="no LaSOT sequence"):
        load_dataset(f"lasot:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="KIND:PATH"):
        load_dataset("imagenet:/x")


def _crossing(tmp_path: Path) -> np.ndarray:
    """An OTB folder under ``tmp_path/seqs`` with one sequence; its ground truth."""
    seq = tmp_path / "seqs" / "Crossing"
    seq.mkdir(parents=True)
    (seq / "img").symlink_to(SEQUENCES / "Crossing" / "img")
    gt = read_boxes(SEQUENCES / "Crossing" / "groundtruth_rect.txt")
    write_boxes(seq / "groundtruth_rect.txt", gt)
    return gt


def test_eval_cli_runs_baselines_and_rescore(tmp_path: Path, tiny_onnx: Path) -> None:
    gt = _crossing(tmp_path)
    out = tmp_path / "report"
    args = [
        "eval",
        "--dataset",
        f"otb:{tmp_path / 'seqs'}",
        "--tracker",
        "kcf",
        "--tracker",
        f"asymtrack:{tiny_onnx}",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"KCF", "asymtrack-tiny (tiny_onnx0)"}
    assert 0 <= report["KCF"]["overall"]["auc"] <= 1 and report["KCF"]["overall"]["median_ms"] > 0
    assert len(read_boxes(out / "results" / "KCF" / "Crossing.txt")) == len(gt)
    assert (out / "success.png").stat().st_size > 1000 and (out / "precision.png").stat().st_size > 1000
    assert f"opencv {cv2.__version__}" in (out / "report.md").read_text()  # what OpenCV's trackers ran on
    before = (out / "report.json").read_text()
    assert main([*args, "--rescore"]) == 0
    assert (out / "report.json").read_text() == before


def test_eval_refuses_a_missing_model_before_running_anything(tmp_path: Path, capsys) -> None:
    _crossing(tmp_path)
    out = tmp_path / "report"
    missing = tmp_path / "missing.pth"
    args = ["eval", "--dataset", f"otb:{tmp_path / 'seqs'}", "--tracker", "kcf", "--tracker", f"asymtrack:{missing}"]
    assert main([*args, "--workers", "2", "--out", str(out)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not (out / "results" / "KCF").exists()  # nothing ran


def test_interleaved_eval_gives_every_tracker_the_boxes_it_gives_alone(tmp_path: Path, tiny_onnx: Path, shared) -> None:
    """Taking turns frame by frame changes when each tracker runs, never what it tracks."""
    gt = _crossing(tmp_path)
    base = ["eval", "--dataset", f"otb:{tmp_path / 'seqs'}", "--tracker", "kcf", "--tracker", f"asymtrack:{tiny_onnx}"]
    base += ["--tracker", f"lightfc:{shared / 'peers'}"]
    alone, turns = tmp_path / "alone", tmp_path / "turns"
    assert main([*base, "--out", str(alone)]) == 0
    assert main([*base, "--interleave", "--out", str(turns)]) == 0
    for name in ("KCF", "asymtrack-tiny_tiny_onnx0", "LightFC"):
        np.testing.assert_array_equal(
            read_boxes(turns / "results" / name / "Crossing.txt"), read_boxes(alone / "results" / name / "Crossing.txt")
        )
        timing = json.loads((turns / "results" / name / "Crossing_time.json").read_text())
        assert len(timing["update_ms"]) == len(gt) - 1 and timing["wall_s"] >= sum(timing["update_ms"]) / 1000
    report = json.loads((turns / "report.json").read_text())
    assert all(r["overall"]["median_ms"] > 0 for r in report.values())


def _spins(session) -> bool:
    """Whether an onnxruntime session's threads spin-wait between runs (its default)."""
    try:
        return session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") != "0"
    except RuntimeError:  # no entry: onnxruntime's default, spinning
        return True


def test_trackers_taking_turns_do_not_spin_wait(tiny_onnx: Path, shared) -> None:
    ours = make_tracker(f"asymtrack:{tiny_onnx}", spin=False)
    peer = make_tracker(f"lightfc:{shared / 'peers'}", spin=False)
    assert not _spins(ours._engine._search) and not _spins(peer.net._tracking)
    assert _spins(make_tracker(f"asymtrack:{tiny_onnx}")._engine._search)  # alone, the lowest latency
