"""Training data: dataset readers on small trees written here, their errors, pair sampling,
crop geometry and augmentation, synthetic scenes and the asset indexer.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SEQUENCES

from asymtrack_ros.cli import main
from asymtrack_ros.models.asymtrack_variants import get_variant
from asymtrack_ros.sampling.assets import index_backgrounds, index_objects
from asymtrack_ros.sampling.geometry import box_in_crop, crop_patch
from asymtrack_ros.sampling.pairs import Augment, PairDataset, far_crop_centre, make_pair
from asymtrack_ros.sampling.synthetic import (
    HIDDEN_VISIBLE,
    SEARCH_VISIBLE,
    SEQUENCE_FRAMES,
    TEMPLATE_VISIBLE,
    AssetBank,
    SyntheticScene,
    SyntheticSource,
)
from asymtrack_ros.tracking.crop import CropSampler, crop_box_to_image
from asymtrack_ros.training.chase import ChaseSource
from asymtrack_ros.training.datasets import Coco, Got10k, Lasot, Otb, TrackingNet, build_source, sample_frame_ids

TINY = get_variant("tiny")


def _frames(folder: Path, names: list[str], colour=(40, 80, 200)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:] = colour
    for name in names:
        cv2.imwrite(str(folder / name), image)


def _boxes(n: int) -> str:
    return "".join(f"{10 + i},{8 + i},20,16\n" for i in range(n))


@pytest.fixture()
def got10k(tmp_path: Path) -> Path:
    seq = tmp_path / "got10k" / "GOT-10k_Train_000001"
    _frames(seq, [f"{i:08d}.jpg" for i in range(1, 6)])
    (seq / "groundtruth.txt").write_text(_boxes(5))
    (seq / "absence.label").write_text("0\n0\n1\n0\n0\n")
    (seq / "cover.label").write_text("8\n8\n0\n0\n8\n")
    return tmp_path / "got10k"


def test_got10k_reader_flags_and_frames(got10k: Path) -> None:
    src = Got10k(got10k)
    seq = src.sequence(0)
    assert len(src) == 1 and seq.boxes.shape == (5, 4)
    assert seq.visible.tolist() == [True, True, False, False, True]  # absent, then fully covered
    crop = seq.frame(0).crop(20, 16, 40, 32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert abs(int(crop[16, 16, 0]) - 200) < 8  # RGB order: the BGR frame's red is channel 0


def test_lasot_trackingnet_coco_otb_readers(tmp_path: Path) -> None:
    seq = tmp_path / "lasot" / "cat" / "cat-1"
    _frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, 5)])
    (seq / "groundtruth.txt").write_text(_boxes(4))
    (seq / "full_occlusion.txt").write_text("0,0,1,0")
    (seq / "out_of_view.txt").write_text("0,0,0,1")
    assert Lasot(tmp_path / "lasot").sequence(0).visible.tolist() == [True, True, False, False]

    chunk = tmp_path / "tn" / "TRAIN_0"
    _frames(chunk / "frames" / "abc", [f"{i}.jpg" for i in range(3)])
    (chunk / "anno").mkdir()
    (chunk / "anno" / "abc.txt").write_text("1,2,10,10\n1,2,0,0\n3,4,10,10\n")
    tn = TrackingNet(tmp_path / "tn")
    assert tn.sequence(0).visible.tolist() == [True, False, True]
    assert tn.sequence(0).frame_path(2).name == "2.jpg"

    _frames(tmp_path / "coco" / "train2017", ["a.jpg"])
    (tmp_path / "coco" / "annotations").mkdir()
    anns = [
        {"id": 1, "image_id": 7, "bbox": [5, 5, 20, 10], "iscrowd": 0},
        {"id": 2, "image_id": 7, "bbox": [5, 5, 20, 10], "iscrowd": 1},
        {"id": 3, "image_id": 7, "bbox": [5, 5, 2, 10], "iscrowd": 0},
    ]
    data = {"images": [{"id": 7, "file_name": "a.jpg"}], "annotations": anns}
    (tmp_path / "coco" / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    coco = Coco(tmp_path / "coco")
    assert len(coco) == 1 and not coco.is_video  # crowd and tiny objects skipped
    rng = np.random.default_rng(0)
    t_frame, t_box, s_frame, s_box = coco.sample_pair(rng, 200)
    assert t_frame is s_frame and np.array_equal(t_box, s_box)  # one image decoded once

    otb = tmp_path / "otb" / "Walk"
    _frames(otb / "img", [f"{i:04d}.jpg" for i in range(1, 4)])
    (otb / "groundtruth_rect.txt").write_text("1\t2\t10\t10\n1 2 10 10\n1;2;10;10\n")
    assert Otb(tmp_path / "otb").sequence(0).boxes.shape == (3, 4)


def test_pair_sampling_skips_invisible_frames_and_keeps_the_gap() -> None:
    visible = np.array([True, False, True, True, False, True] * 20)
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = sample_frame_ids(rng, visible, max_gap=7, is_video=True)
        assert visible[a] and visible[b] and 0 < b - a <= 7
    assert sample_frame_ids(rng, np.zeros(5, bool), 7, True) is None
    assert sample_frame_ids(rng, np.array([False, True]), 7, True) is None  # no later visible frame


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        (lambda p: None, FileNotFoundError, r"got10k: GOT-10k split folder not found"),
        (lambda p: (p / "got10k" / "s").mkdir(parents=True), FileNotFoundError, r"s: no groundtruth.txt"),
        (
            lambda p: _write(p / "got10k" / "s" / "groundtruth.txt", "1,2,3,4\n1,2,x,4\n"),
            ValueError,
            r"groundtruth.txt:2: not numbers",
        ),
        (
            lambda p: _write(p / "got10k" / "s" / "groundtruth.txt", "1,2,3,4\n1,2,3\n"),
            ValueError,
            r"groundtruth.txt:2: expected 4 values",
        ),
        (
            lambda p: (
                _write(p / "got10k" / "s" / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n"),
                _write(p / "got10k" / "s" / "absence.label", "0\nno\n"),
            ),
            ValueError,
            r"absence.label:2: not an integer label",
        ),
        (
            lambda p: (
                _write(p / "got10k" / "s" / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n"),
                _write(p / "got10k" / "s" / "absence.label", "0\n"),
            ),
            ValueError,
            r"absence.label: 1 labels for 2 boxes",
        ),
        (
            lambda p: _write(p / "got10k" / "s" / "groundtruth.txt", "1,2,3,4\n"),
            FileNotFoundError,
            r"s: no frame 00000001.jpg",
        ),
    ],
)
def test_got10k_errors_name_file_and_line(tmp_path: Path, setup, error, match) -> None:
    setup(tmp_path)
    with pytest.raises(error, match=match):
        Got10k(tmp_path / "got10k").sequence(0)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_other_readers_errors(tmp_path: Path) -> None:
    seq = tmp_path / "lasot" / "cat" / "cat-1"
    _frames(seq / "img", ["00000001.jpg"])
    _write(seq / "groundtruth.txt", _boxes(2))
    _write(seq / "full_occlusion.txt", "0,0,0")
    with pytest.raises(ValueError, match=r"full_occlusion.txt: 3 labels for 2 boxes"):
        Lasot(tmp_path / "lasot").sequence(0)
    (tmp_path / "tn" / "TRAIN_0" / "anno").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"TRAIN_0/frames: TrackingNet chunk frames folder not found"):
        TrackingNet(tmp_path / "tn")
    _write(tmp_path / "c" / "bad.json", '{"images": [],\n "annotations": [,]}')
    with pytest.raises(ValueError, match=r"bad.json:2: not valid JSON"):
        Coco(tmp_path / "c", tmp_path / "c" / "bad.json")
    _write(tmp_path / "c" / "nobox.json", json.dumps({"images": [{"id": 1, "file_name": "a"}], "annotations": [{}]}))
    with pytest.raises(ValueError, match=r"nobox.json: annotation #0 \(id \?\) malformed"):
        Coco(tmp_path / "c", tmp_path / "c" / "nobox.json")
    with pytest.raises(ValueError, match="unknown data source type 'imagenet'"):
        build_source({"type": "imagenet", "root": "x"})
    with pytest.raises(ValueError, match="data source 'synthetic': .*'root'"):
        build_source({"type": "synthetic", "root": "x"})


@pytest.mark.parametrize("reader", [Otb, Got10k, Lasot])
def test_evaluation_sequences_are_refused(reader, tmp_path: Path) -> None:
    """Also through symbolic links: the guard compares resolved paths, not the names given."""
    (tmp_path / "sequences_link").symlink_to(SEQUENCES, target_is_directory=True)
    (tmp_path / "shared_link").symlink_to(SEQUENCES.parent, target_is_directory=True)
    (tmp_path / "car4_link").symlink_to(SEQUENCES / "Car4", target_is_directory=True)
    roots = [SEQUENCES, SEQUENCES / "Car4", SEQUENCES.parent]
    roots += [tmp_path / "sequences_link", tmp_path / "shared_link", tmp_path / "car4_link"]
    roots += [tmp_path / "shared_link" / SEQUENCES.name, tmp_path / "shared_link" / SEQUENCES.name / "Car4"]
    for root in roots:
        assert root.is_dir(), root
        with pytest.raises(ValueError, match="evaluation sequences"):
            reader(root)


class ArrayFrame:
    """An in-memory frame cropped exactly as ImageFrame crops (RGB in, RGB out)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        return crop_patch(self.image, cx, cy, side, out_size)


def test_training_crops_match_the_tracker_crops() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    sampler = CropSampler(64, (0, 0, 0), (1, 1, 1), 1.0)
    for cx, cy, side in ((80.3, 60.7, 51), (5.0, 110.2, 90), (150.5, 3.4, 33)):
        sampler(image, cx, cy, side)
        np.testing.assert_array_equal(crop_patch(image, cx, cy, side, 64), sampler.patch)
        box = np.array([cx - 7.5, cy - 4.0, 15.0, 8.0])
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        np.testing.assert_allclose(crop_box_to_image(box_in_crop(box, cx, cy, side), x0, y0, side), box, atol=1e-4)


def _bright_bbox(patch: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(patch.max(axis=2) > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def test_pair_target_is_where_the_object_is_in_the_search_crop() -> None:
    """A white box on black: the bright pixels of the (jittered, flipped) search crop are
    the target the pair states (clipped to the crop), within a pixel and a half.
    """
    image = np.zeros((400, 500, 3), np.uint8)
    box = np.array([210.0, 160.0, 60.0, 40.0])
    image[160:200, 210:270] = 255
    frame = ArrayFrame(image)
    rng = np.random.default_rng(3)
    for _ in range(30):
        item = make_pair(rng, frame, box, frame, box, TINY, Augment(brightness=0.0, grayscale=0.0))
        cx, cy, w, h = item["box"] * TINY.search_size
        expected = np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0, TINY.search_size)  # may overhang
        np.testing.assert_allclose(_bright_bbox(item["search"]), expected, atol=1.5)


def test_jitter_geometry_matches_the_reference() -> None:
    """No jitter: the template is the tracker's template crop and the target fills the
    search crop's centre at a quarter of its side. Reference jitter (centre 3.5, scale
    0.5): the target centre stays within +-0.4375 of the crop centre.
    """
    image = np.zeros((400, 500, 3), np.uint8)
    box = np.array([200.0, 150.0, 64.0, 36.0])
    frame = ArrayFrame(image)
    rng = np.random.default_rng(0)
    still = Augment(search_center_jitter=0, search_scale_jitter=0, flip=0, brightness=0, grayscale=0)
    item = make_pair(rng, frame, box, frame, box, TINY, still)
    side = CropSampler.side_for(64, 36, 4.0)
    np.testing.assert_allclose(item["box"], [0.5, 0.5, 64 / side, 36 / side], atol=1 / side)
    centres = []
    for _ in range(500):
        item = make_pair(rng, frame, box, frame, box, TINY, Augment())
        centres.append(item["box"][:2])
    offset = np.abs(np.array(centres) - 0.5)
    assert offset.max() <= 0.4375 + 0.01 and offset.max() > 0.3  # the full jitter range is used


def test_flip_mirrors_the_crop_and_the_target() -> None:
    image = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    box = np.array([100.0, 120.0, 50.0, 30.0])
    frame = ArrayFrame(image)
    plain = make_pair(np.random.default_rng(5), frame, box, frame, box, TINY, Augment(flip=0.0))
    flipped = make_pair(np.random.default_rng(5), frame, box, frame, box, TINY, Augment(flip=1.0))
    np.testing.assert_array_equal(flipped["search"], plain["search"][:, ::-1])
    np.testing.assert_allclose(flipped["box"], [1 - plain["box"][0], *plain["box"][1:]], atol=1e-6)


def test_far_crop_never_contains_the_target() -> None:
    rng = np.random.default_rng(0)
    box = np.array([100.0, 80.0, 40.0, 90.0])
    for _ in range(200):
        cx, cy = far_crop_centre(rng, box, 240)
        assert abs(cx - 120) >= 120 + 20 or abs(cy - 125) >= 120 + 45


def test_synthetic_box_matches_the_rendered_target() -> None:
    """The target alone on a black background: its rendered pixels fill the stated box."""
    bank = AssetBank.procedural(seed=0, backgrounds=1, objects=4)
    bank.backgrounds = [[np.zeros_like(level) for level in bank.backgrounds[0]]]
    for seed in range(6):
        scene = SyntheticScene(bank, np.random.default_rng(seed))
        scene.actors, scene.exposure, scene.noise, scene.defocus = [scene.target], 0.0, 0.0, False
        box = scene.box(100.0)
        side = CropSampler.side_for(box[2], box[3], 4.0)
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        patch = scene.render(100.0, cx, cy, side, 256)
        expected = box_in_crop(box, cx, cy, side) * 256
        x1, y1 = expected[:2] - expected[2:] / 2
        bright = _bright_bbox(np.where(patch > 20, 255, 0).astype(np.uint8))
        np.testing.assert_allclose(bright, [x1, y1, x1 + expected[2], y1 + expected[3]], atol=3.0)
        assert scene.visibility(100.0) > 0.95 or box[0] <= 0 or box[1] <= 0


def test_synthetic_pairs_are_deterministic_and_well_formed() -> None:
    source = SyntheticSource(procedural=True)
    data = PairDataset([source], [1.0], TINY, Augment(), neg_prob=1.0, seed=4, length=8)
    a, b = data[3], data[3]
    for key in ("template", "search", "box", "neg_search"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["template"].shape == (128, 128, 3) and a["search"].shape == (256, 256, 3)
    assert a["neg_search"].shape == (256, 256, 3)
    for i in range(8):
        cx, cy, w, h = data[i]["box"]
        assert 0 < cx < 1 and 0 < cy < 1 and w > 0 and h > 0


def test_hidden_pairs_show_the_target_then_its_occluder() -> None:
    source = SyntheticSource(procedural=True)
    rng = np.random.default_rng(3)
    found = [p for p in (source.sample_hidden_pair(rng, 50) for _ in range(200)) if p is not None]
    assert len(found) >= 5
    for f0, _, f1, _, fh, bh in found:
        scene = fh.scene
        assert scene is f0.scene is f1.scene and 0 <= f0.t < fh.t < SEQUENCE_FRAMES and 0 <= f1.t < SEQUENCE_FRAMES
        assert scene.visibility(f0.t) >= TEMPLATE_VISIBLE and scene.visibility(f1.t) >= SEARCH_VISIBLE
        assert scene.visibility(fh.t) < HIDDEN_VISIBLE and min(bh[2], bh[3]) >= 2
    # every item of a hidden-only dataset carries its occluded crop; none without the share
    hidden = PairDataset([source], [1.0], TINY, Augment(), hidden_prob=1.0, seed=2, length=6)
    assert all(hidden[i]["neg_search"].shape == (256, 256, 3) for i in range(6))
    plain = PairDataset([source], [1.0], TINY, Augment(), seed=2, length=6)
    assert not any("neg_search" in plain[i] for i in range(6))
    with pytest.raises(ValueError, match="hidden_prob"):
        PairDataset([source], [1.0], TINY, Augment(), hidden_prob=1.5)


def test_photo_objects_are_textured_cutouts_drawn_at_their_share() -> None:
    bank = AssetBank.procedural(seed=0, backgrounds=4, objects=8)
    plain = len(bank.objects)
    bank.add_photo_objects(np.random.default_rng(1), 40, 0.75)
    photos = bank.objects[plain:]
    assert len(photos) == 40
    assert all(bank.class_names[o.cls].startswith("photo/") for o in photos)
    for obj in photos:
        rgba = obj.levels[0]
        opaque = rgba[..., 3] > 127
        assert opaque.mean() > 0.2  # an outline filling much of its box
        assert rgba[..., :3][opaque].std() >= 5  # photograph texture, not a flat fill
    rng = np.random.default_rng(2)
    drawn = np.array([bank.sample_object(rng) >= plain for _ in range(2000)])
    assert abs(drawn.mean() - 0.75) < 0.04
    # Look-alikes of a photo target are cut from the same photograph.
    assert all(bank.objects[i].cls == photos[0].cls for i in bank.by_class[photos[0].cls])
    with pytest.raises(ValueError, match="photo_fraction"):
        bank.add_photo_objects(rng, 1, 1.5)


def test_asset_indexer_keeps_cutouts_and_detailed_photos(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    rgba = np.zeros((80, 100, 4), np.uint8)
    rgba[10:70, 20:90] = (0, 200, 0, 255)
    _write_png(stamps / "animals" / "mammals" / "cat.png", rgba)
    _write_png(stamps / "animals" / "mammals" / "flat.png", rgba[..., :3])  # no alpha: skipped
    _write_png(stamps / "symbols" / "alphabets" / "a.png", rgba)  # skipped category
    tiny = np.zeros((80, 100, 4), np.uint8)
    tiny[10:20, 10:20] = 255
    _write_png(stamps / "food" / "pea.png", tiny)  # too small
    entries = index_objects({"pkg": (stamps, ("symbols/alphabets",))}, tmp_path / "out")
    assert [e["class"] for e in entries] == ["pkg/animals/mammals"]
    kept = cv2.imread(str(tmp_path / "out" / entries[0]["path"]), cv2.IMREAD_UNCHANGED)
    assert kept.shape == (60, 70, 4)  # cropped to the opaque part

    photos = tmp_path / "walls"
    noisy = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    _write_png(photos / "a.png", noisy)
    _write_png(photos / "b" / "contents" / "images" / "400x300.png", noisy)  # same picture: deduplicated
    _write_png(photos / "flat.png", np.full((300, 400, 3), 90, np.uint8))  # no detail: skipped
    assert len(index_backgrounds([photos], tmp_path / "out")) == 1


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def test_chase_pairs_are_pure_functions_of_the_sample_and_turn_in_3d() -> None:
    """Two processes (two sources) give the same pair for a sample id; across pairs the
    target's box changes aspect between template and search, which 2D warps of a cut-out
    rarely do, and the box always holds the target centre inside the search crop.
    """
    first = PairDataset([ChaseSource(scenes=2, seed=3)], [1.0], TINY, Augment(), neg_prob=1.0, seed=2, length=40)
    second = PairDataset([ChaseSource(scenes=2, seed=3)], [1.0], TINY, Augment(), neg_prob=1.0, seed=2, length=40)
    for key in ("template", "search", "box"):
        np.testing.assert_array_equal(first[5][key], second[5][key])
    source = ChaseSource(scenes=2, seed=3)
    changes = []
    rng = np.random.default_rng(0)
    while len(changes) < 30:
        pair = source.sample_pair(rng, 200)
        if pair is None:
            continue
        _, b0, frame, b1 = pair
        assert frame.image.shape == (480, 640, 3)
        assert b1[0] >= 0 and b1[1] >= 0 and b1[0] + b1[2] <= 640 and b1[1] + b1[3] <= 480
        changes.append(abs(np.log((b1[2] / b1[3]) / (b0[2] / b0[3]))))
    assert max(changes) > np.log(1.5)


def test_chase_source_options_are_checked() -> None:
    with pytest.raises(ValueError, match="scenes >= 1"):
        build_source({"type": "chase", "scenes": 0})
    with pytest.raises(ValueError, match="chase"):
        build_source({"type": "chase", "colour": "red"})
    assert isinstance(build_source({"type": "chase", "weight": 0.3, "scenes": 4}), ChaseSource)


def test_preview_draws_chase_pairs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sheet.png"
    assert main(["synth", "preview", "--chase", "--pairs", "4", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape == (256, 4 * (128 + 256), 3) and sheet.std() > 10
    assert "chase scenes" in capsys.readouterr().out
