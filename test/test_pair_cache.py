"""The pair cache: crops cut once around the targets, from which training draws the same
pairs as from the frames themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SEQUENCES

from asymtrack_ros.cli import main
from asymtrack_ros.models.asymtrack_variants import get_variant
from asymtrack_ros.sampling.pairs import Augment, PairDataset
from asymtrack_ros.training.datasets import Otb, build_source
from asymtrack_ros.training.pair_cache import INDEX, PairCache, build_cache

TRAIN_SEQUENCES = SEQUENCES.parent / "train_sequences"
NAMES = ("Skiing", "snowboarding4")


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("frames")
    for name in NAMES:
        (root / name).symlink_to(TRAIN_SEQUENCES / name)
    cache = tmp_path_factory.mktemp("cache")
    lines = build_cache(root, cache, workers=2)
    visible = [int(Otb(root).sequence(i).visible.sum()) for i in range(len(NAMES))]
    assert sorted(lines) == sorted(f"{n}: {v} crops" for n, v in zip(NAMES, visible))
    return root, cache


def test_cache_holds_one_crop_per_visible_frame_and_is_rerunnable(cached: tuple[Path, Path]) -> None:
    root, cache = cached
    frames = Otb(root)
    for i, name in enumerate(NAMES):
        seq = frames.sequence(i)
        index = json.loads((cache / name / INDEX).read_text())
        assert len(list((cache / name / "crops").glob("*.jpg"))) == int(seq.visible.sum())
        assert len(index["boxes"]) == len(seq.boxes)
    assert build_cache(root, cache) == [f"{n}: present" for n in NAMES]


def test_cached_pairs_are_the_frames_pairs(cached: tuple[Path, Path]) -> None:
    """Same seed, same sample ids: the same targets and nearly the same pixels (JPEG)."""
    root, cache = cached
    variant = get_variant("tiny")
    a = PairDataset([Otb(root)], [1.0], variant, Augment(), seed=3, length=8)
    b = PairDataset([build_source({"type": "crops", "root": str(cache)})], [1.0], variant, Augment(), seed=3, length=8)
    for i in range(8):
        x, y = a[i], b[i]
        np.testing.assert_array_equal(x["box"], y["box"])
        np.testing.assert_array_equal(x["template_box"], y["template_box"])
        assert x["search"].shape == y["search"].shape == (256, 256, 3)
        assert np.abs(x["template"].astype(np.int16) - y["template"]).mean() < 4.0


def test_cached_negatives_come_from_other_targets(cached: tuple[Path, Path]) -> None:
    """A cached crop holds nothing far from its target: negatives are crops about other
    targets, not padding (half of them would be empty if cut far from the target).
    """
    _, cache = cached
    data = PairDataset([PairCache(cache)], [1.0], get_variant("tiny"), Augment(), neg_prob=1.0, seed=5, length=16)
    filled = [(data[i]["neg_search"] > 0).any(axis=-1).mean() for i in range(16)]
    assert np.mean(filled) > 0.8


def test_bad_caches_are_refused_with_the_file_named(cached: tuple[Path, Path], tmp_path: Path) -> None:
    _, cache = cached
    with pytest.raises(ValueError, match=r"excluded sequences not found: \['Nope'\]"):
        PairCache(cache, exclude=["Nope"])
    assert [f.name for f in PairCache(cache, exclude=["Skiing"]).folders] == ["snowboarding4"]
    broken = tmp_path / "broken" / "Skiing"
    broken.mkdir(parents=True)
    (broken / INDEX).write_text('{"format": 1, "boxes": [[1, 2, 3, 4]]}')
    with pytest.raises(ValueError, match="not a pair-cache index"):
        PairCache(broken.parent).sequence(0)
    with pytest.raises(FileNotFoundError, match="no sequence folders"):
        PairCache(tmp_path / "broken" / "Skiing")
    with pytest.raises(ValueError, match="evaluation sequences"):
        build_cache(SEQUENCES, tmp_path / "never")


def test_cli_builds_and_benchmarks(cached: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, _ = cached
    out = tmp_path / "cache"
    assert main(["cache", "build", str(root), "--out", str(out), "--max-side", "256"]) == 0
    assert (out / "Skiing" / INDEX).is_file()
    capsys.readouterr()
    assert main(["cache", "bench", str(root), str(out), "--pairs", "6", "--rounds", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 6 and report["frames_pairs_per_s"] > 0 and report["cache_pairs_per_s"] > 0
    assert report["frames_cpu_ms_per_pair"] > 0 and report["cache_cpu_ms_per_pair"] > 0
    assert report["mean_abs_search_diff"] < 8.0  # the same pairs
