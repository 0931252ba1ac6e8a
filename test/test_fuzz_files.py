"""Fuzzed box and sequence files (hypothesis): box files with any separators, counts, NaN,
infinities, garbage and undecodable bytes; name lists; benchmark folders in each published
layout with odd ground truth, flag files and images that do not decode; dataset specs.
Each is read as what it says or refused with an error naming the file (and line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asymtrack_ros.evaluation.datasets import READERS, load_dataset
from asymtrack_ros.files.sequences import read_boxes, read_name_list

# Examples per boundary (docs/robustness.md lists them).
BOX_FILE_EXAMPLES = 600
DATASET_EXAMPLES = 200
SPEC_EXAMPLES = 300

number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "0", "-0", "1.5"]),
)
token = st.one_of(number, number, st.text(max_size=6))
separator = st.sampled_from([",", " ", "\t", ";", ", ", ",,", " ; "])


@st.composite
def box_lines(draw) -> str:
    fields = draw(st.lists(token, min_size=0, max_size=9))
    return draw(separator).join(fields)


@st.composite
def box_files(draw) -> bytes:
    kind = draw(st.sampled_from(["lines", "lines", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=120))
    return "\n".join(draw(st.lists(box_lines(), max_size=6))).encode()


def names_file(err: Exception, path: Path) -> bool:
    return str(path) in str(err)


@settings(max_examples=BOX_FILE_EXAMPLES)
@given(box_files())
@example(b"1,2,3,\xff\n")  # not UTF-8: the error must still name the file
def test_box_files_read_or_refused_naming_the_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "groundtruth_rect.txt"
        path.write_bytes(data)
        try:
            boxes = read_boxes(path)
        except ValueError as err:
            assert names_file(err, path), err
            return
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and boxes.shape[0] >= 1 and boxes.dtype == np.float64
        names = read_name_list(path)
        assert all(isinstance(n, str) and n and "#" not in n for n in names)


def write_image(path: Path, seed: int, corrupt: bool) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    path.write_bytes(buf.tobytes()[: 20 if corrupt else None])


@st.composite
def dataset_trees(draw) -> tuple[str, dict[str, bytes | int]]:
    """A reader kind and the files of one sequence in its layout: text files as bytes,
    images as 0 (decodable) or 1 (corrupt).
    """
    kind = draw(st.sampled_from(sorted(READERS)))
    gt_text = "\n".join(draw(st.lists(box_lines(), min_size=0, max_size=5)))
    if draw(st.booleans()):
        gt_text = "10,10,20,20\n" + gt_text  # a valid first box, odd rows after
    gt = gt_text.encode()
    images = draw(st.lists(st.integers(0, 1), min_size=0, max_size=4))
    flags = ",".join(draw(st.lists(token, max_size=5))).encode()
    layout: dict[str, bytes | int] = {}
    folder, gt_name = {
        "otb": ("seq/img", "seq/groundtruth_rect.txt"),
        "got10k": ("seq", "seq/groundtruth.txt"),
        "lasot": ("cls/cls-1/img", "cls/cls-1/groundtruth.txt"),
        "uav123": ("data_seq/UAV123/seq", "anno/UAV123/seq.txt"),
        "vot": ("sequences/seq/color", "sequences/seq/groundtruth.txt"),
    }[kind]
    layout[gt_name] = gt
    for i, corrupt in enumerate(images):
        layout[f"{folder}/{i + 1:04d}.jpg"] = corrupt
    if kind == "got10k":
        layout["seq/absence.label"] = flags
    if kind == "lasot":
        layout["cls/cls-1/full_occlusion.txt"] = flags
    return kind, layout


@settings(max_examples=DATASET_EXAMPLES)
@given(dataset_trees())
# Found by this test: an infinite absence flag was an OverflowError, an empty VOT file an IndexError.
@example(("got10k", {"seq/groundtruth.txt": b"1,1,5,5\n", "seq/0001.jpg": 0, "seq/absence.label": b"inf"}))
@example(("vot", {"sequences/seq/groundtruth.txt": b""}))
def test_benchmark_folders_read_or_refused_naming_the_file(case):
    kind, layout = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, content in layout.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                write_image(path, len(name), corrupt=bool(content))
        try:
            sequences = READERS[kind](root)
        except ValueError as err:
            assert tmp in str(err), err
            return
        for seq in sequences:
            assert seq.groundtruth.shape == (seq.frames.count, 4) and seq.frames.count >= 1
            x, y, w, h = seq.init_box
            assert np.isfinite(seq.init_box).all() and w > 0 and h > 0
            try:
                for frame in seq.frames:
                    assert frame.ndim == 3 and frame.dtype == np.uint8
            except ValueError as err:
                assert tmp in str(err) and "cannot decode" in str(err), err


@settings(max_examples=SPEC_EXAMPLES)
@given(
    st.one_of(
        st.text(max_size=30),
        st.builds(lambda k, rest: f"{k}:{rest}", st.sampled_from([*READERS, "video", "zip"]), st.text(max_size=20)),
    )
)
def test_dataset_specs_refused_clearly(spec):
    try:
        load_dataset(spec)
    except (ValueError, FileNotFoundError) as err:
        assert str(err), spec
        return
    pytest.fail(f"{spec!r} read as a dataset")
