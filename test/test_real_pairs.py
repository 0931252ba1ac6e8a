"""Real video pairs: the validation split held out of training and scored on its own,
small-target resampling, and success by target size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SEQUENCES

from asymtrack_ros.evaluation.datasets import load_dataset
from asymtrack_ros.evaluation.metrics import SIZE_BUCKETS, aggregate_by_size, ious_by_size, score_sequence, size_at_720
from asymtrack_ros.evaluation.report import markdown_table, summarize
from asymtrack_ros.files.sequences import read_name_list
from asymtrack_ros.models.asymtrack_variants import get_variant
from asymtrack_ros.sampling.pairs import Augment, make_pair
from asymtrack_ros.training.config import ConfigError, load_config
from asymtrack_ros.training.datasets import Otb, build_source

REPO = Path(__file__).parents[1]
TRAIN_SEQUENCES = SEQUENCES.parent / "train_sequences"
SPLIT = REPO / "config" / "real_val_sequences.txt"


class ArrayFrame:
    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        from asymtrack_ros.sampling.geometry import crop_patch

        return crop_patch(self.image, cx, cy, side, out_size)


def test_name_lists_take_comments_and_lists(tmp_path: Path) -> None:
    f = tmp_path / "names.txt"
    f.write_text("# heading\nA   # first\n\nB\n")
    assert read_name_list(f) == ["A", "B"]
    assert read_name_list(["C"]) == ["C"]
    with pytest.raises(FileNotFoundError, match="sequence list not found"):
        read_name_list(tmp_path / "none.txt")


def test_validation_split_is_held_out_of_training_and_scored_alone() -> None:
    held_out = read_name_list(SPLIT)
    everything = {p.name for p in TRAIN_SEQUENCES.iterdir() if (p / "groundtruth_rect.txt").is_file()}
    assert len(held_out) >= 6 and set(held_out) <= everything
    cfg = load_config(REPO / "config" / "train_tiny_cpu_real.yaml")
    real = [s for s in cfg["data"]["sources"] if s["type"] == "otb"]
    assert real and real[0]["exclude"] == "config/real_val_sequences.txt"
    source = Otb(TRAIN_SEQUENCES, exclude=SPLIT)
    trained = {f.name for f in source.folders}
    assert trained == everything - set(held_out)
    scored = load_dataset(f"otb:{TRAIN_SEQUENCES}@{SPLIT}")
    assert sorted(s.name for s in scored) == sorted(held_out)


def test_split_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"excluded sequences not found: \['Nope'\]"):
        build_source({"type": "otb", "root": str(TRAIN_SEQUENCES), "exclude": ["Nope"]})
    names = tmp_path / "val.txt"
    names.write_text("Car1\nNope\n")
    with pytest.raises(ValueError, match=r"not found: \['Nope'\]"):
        load_dataset(f"otb:{TRAIN_SEQUENCES}@{names}")


def test_size_buckets_pool_frames_by_target_size_at_720_lines() -> None:
    gt = np.array([[0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 100, 100], [np.nan] * 4])
    assert size_at_720(gt[:3], 360).tolist() == [20.0, 40.0, 200.0]
    pred = gt.copy()
    pred[1] = [50, 50, 20, 20]  # a miss on the medium frame
    parts = ious_by_size(pred, gt, 360)
    small, medium, large = (name for name, _, _ in SIZE_BUCKETS)
    assert parts[small].tolist() == [1.0] and parts[medium].tolist() == [0.0] and parts[large].tolist() == [1.0]
    pooled = aggregate_by_size([parts, parts])
    assert pooled[medium] == {"auc": 0.0, "frames": 2}
    assert pooled[small]["auc"] == pytest.approx(20 / 21) and pooled[small]["frames"] == 2
    entry = {"curves": [score_sequence(pred, gt)], "sequences": {}, "median_ms": 1.0, "fps_end_to_end": 1.0}
    table = markdown_table(summarize({"t": {**entry, "by_size": [parts]}}))
    assert "Success AUC by target size" in table and "| t | 0.952 (1) | 0.000 (1) | 0.952 (1) |" in table


def _sharpness(image: np.ndarray) -> float:
    return float(np.abs(np.diff(image.astype(np.float64), axis=1)).mean())


def test_low_res_pairs_look_like_far_targets_and_keep_their_box() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (600, 600, 3), dtype=np.uint8)
    frame, box = ArrayFrame(image), np.array([250.0, 260.0, 100.0, 80.0])
    variant = get_variant("tiny")
    plain = make_pair(np.random.default_rng(3), frame, box, frame, box, variant, Augment(flip=0, brightness=0))
    far = make_pair(
        np.random.default_rng(3), frame, box, frame, box, variant, Augment(flip=0, brightness=0, low_res=1.0)
    )
    np.testing.assert_array_equal(plain["box"], far["box"])
    assert _sharpness(far["search"]) < 0.5 * _sharpness(plain["search"])
    assert _sharpness(far["template"]) < 0.5 * _sharpness(plain["template"])


@pytest.mark.parametrize(
    "override, match",
    [
        ("augment.low_res=1.5", "probability"),
        ("augment.low_res_px=[30, 8]", "low_res_px"),
        ("distill.weight=-1", "distill"),
    ],
)
def test_bad_small_target_and_teacher_settings_are_refused(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(REPO / "config" / "train_tiny_cpu_real.yaml", [override])


def test_eval_takes_tracker_parameters_and_refuses_unknown_ones(tmp_path: Path, tiny_onnx: Path) -> None:
    from asymtrack_ros.cli import main
    from asymtrack_ros.files.sequences import read_boxes

    seq = tmp_path / "data" / "Crossing"
    (seq / "img").mkdir(parents=True)
    for f in sorted((SEQUENCES / "Crossing" / "img").iterdir())[:6]:
        (seq / "img" / f.name).symlink_to(f)
    gt = (SEQUENCES / "Crossing" / "groundtruth_rect.txt").read_text().splitlines()[:6]
    (seq / "groundtruth_rect.txt").write_text("\n".join(gt) + "\n")
    args = ["eval", "--dataset", f"otb:{seq.parent}", "--tracker", f"asymtrack:{tiny_onnx}"]
    wide = ["--tracker-param", "min_box_size=60", "--tracker-param", "lost_threshold=0"]  # every box taken
    assert main([*args, "--out", str(tmp_path / "wide"), *wide]) == 0
    boxes = read_boxes(next((tmp_path / "wide" / "results").glob("*/Crossing.txt")))
    assert (boxes[1:, 2:] >= 60 - 1e-6).all()  # the initial box is the ground truth's, 17 px wide
    assert main([*args, "--out", str(tmp_path / "bad"), "--tracker-param", "no_such_parameter=1"]) == 2
    assert not (tmp_path / "bad" / "results").exists()


def test_a_car_six_pixels_high_keeps_its_size_under_the_defaults() -> None:
    """A far car (UAV123 car16_1: 8 x 6 px in a 480 px wide frame) is not inflated to a
    minimum box: its box may only move by the tracker's damped size update.
    """
    import cv2

    from asymtrack_ros.engines.factory import create_tracker, load_engine
    from asymtrack_ros.files.sequences import read_boxes
    from asymtrack_ros.tracking.tracker import TrackerParams

    seq = TRAIN_SEQUENCES / "car16_1"
    frames = sorted((seq / "img").iterdir())[:2]
    box = read_boxes(seq / "groundtruth_rect.txt")[0]
    assert box[3] < 7
    tracker = create_tracker(load_engine(None, "torch"), TrackerParams(bgr_input=True))
    tracker.init(cv2.imread(str(frames[0])), box)
    result = tracker.update(cv2.imread(str(frames[1])))
    assert result.box[3] < 10 and result.box[2] < 13


def test_manifest_validation_split_is_held_out_of_every_manifest_config() -> None:
    """At least 12 manifest sequences, the reduced copy's split among them (so its arm holds
    them out too), and every config that trains on the manifest's cache excludes them.
    """
    manifest = (SEQUENCES.parent / "data" / "sot_manifest.tsv").read_text().splitlines()
    names = {line.split("\t")[0] for line in manifest[1:] if line.strip()}
    split = read_name_list(REPO / "config" / "manifest_val_sequences.txt")
    assert len(split) >= 12 and len(set(split)) == len(split) and set(split) <= names
    assert set(read_name_list(SPLIT)) <= set(split)
    for path in sorted((REPO / "config").glob("train_*.yaml")):
        for source in load_config(path)["data"]["sources"]:
            if source["type"] == "crops":
                assert source["exclude"] == "config/manifest_val_sequences.txt", path.name
            if source["type"] == "otb" and "train_sequences" in source["root"]:
                assert source["exclude"] == "config/real_val_sequences.txt", path.name
