"""The int8 search graph as the CPU default: only for weights whose int8 check, recorded at
shipping, kept the AUC within the tolerance; fp32 one parameter away; the int8 export cached.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asymtrack_ros.engines.factory import (
    INT8_AUC_TOLERANCE,
    file_digest,
    graph_precision,
    int8_holds,
    int8_record_path,
    load_engine,
)
from asymtrack_ros.files.resources import default_model_path

CPU = ("cpu",)
VALIDATION = Path(__file__).resolve().parents[1] / "config" / "real_val_sequences.txt"


def _shipped_copy(tmp_path: Path) -> Path:
    path = tmp_path / "weights.pth"
    shutil.copyfile(default_model_path("asymtrack"), path)
    return path


def _record(checkpoint: Path, fp32: float, int8: float, sha: str | None = None) -> None:
    record = {"checkpoint_sha1": sha or file_digest(checkpoint), "fp32_auc": fp32, "int8_auc": int8}
    int8_record_path(checkpoint).write_text(json.dumps(record))


def test_unchecked_weights_stay_fp32(tmp_path: Path) -> None:
    ckpt = _shipped_copy(tmp_path)
    assert not int8_holds(ckpt)
    assert graph_precision(ckpt, "auto", CPU, False, "auto") == "fp32"


@pytest.mark.parametrize(
    ("fp32", "int8", "holds"),
    [(0.60, 0.60, True), (0.60, 0.60 - INT8_AUC_TOLERANCE / 2, True), (0.60, 0.61, True), (0.60, 0.585, False)],
)
def test_the_record_decides_within_the_tolerance(tmp_path: Path, fp32: float, int8: float, holds: bool) -> None:
    ckpt = _shipped_copy(tmp_path)
    _record(ckpt, fp32, int8)
    assert int8_holds(ckpt) is holds
    assert graph_precision(ckpt, "onnxruntime", CPU, False, "auto") == ("int8" if holds else "fp32")
    # fp32 stays one parameter away; torch and fp16 never take the int8 graph.
    assert graph_precision(ckpt, "onnxruntime", CPU, False, "fp32") == "fp32"
    assert graph_precision(ckpt, "torch", CPU, False, "auto") == "fp32"
    assert graph_precision(ckpt, "onnxruntime", CPU, True, "auto") == "fp16"


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"fp32_auc": 0.6}', '{"checkpoint_sha1": 3, "fp32_auc": "x", "int8_auc": 0.6}', "[]", "null"],
)
def test_a_broken_record_is_logged_and_means_fp32(tmp_path: Path, caplog, content: str) -> None:
    ckpt = _shipped_copy(tmp_path)
    int8_record_path(ckpt).write_text(content)
    with caplog.at_level(logging.WARNING):
        assert not int8_holds(ckpt)
    assert "unreadable int8 record" in caplog.text


def test_a_record_of_other_weights_is_ignored(tmp_path: Path, caplog) -> None:
    ckpt = _shipped_copy(tmp_path)
    _record(ckpt, 0.6, 0.6, sha="0" * 40)
    with caplog.at_level(logging.WARNING):
        assert not int8_holds(ckpt)
    assert "records other weights" in caplog.text


def test_bad_precision_choices_are_refused(tmp_path: Path) -> None:
    ckpt = _shipped_copy(tmp_path)
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        graph_precision(ckpt, "auto", CPU, False, "int4")
    with pytest.raises(ValueError, match="not with fp16 or engine torch"):
        graph_precision(ckpt, "auto", CPU, True, "int8")
    with pytest.raises(ValueError, match="not with fp16 or engine torch"):
        load_engine(ckpt, engine="torch", precision="int8")
    with pytest.raises(ValueError, match="SEAT has no int8 graph"):
        load_engine(default_model_path("seat"), providers=CPU, precision="int8")


# A tracker from weights whose graph is cached, in a fresh interpreter: what a node does at start.
NO_TORCH_TO_RUN = """
import sys
import numpy as np
from asymtrack_ros.engines.factory import create_tracker, load_engine
tracker = create_tracker(load_engine(sys.argv[1], providers=("cpu",)))
image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
tracker.init(image, (100, 80, 40, 30))
tracker.update(image)
print(tracker.engine.spec.precision, sorted(m for m in ("torch", "onnx") if m in sys.modules))
"""


def test_verified_weights_run_the_cached_int8_graph_by_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASYMTRACK_CACHE", str(tmp_path / "cache"))
    ckpt = _shipped_copy(tmp_path)
    _record(ckpt, 0.6, 0.6)
    engine = load_engine(ckpt, providers=CPU)
    assert engine.spec.precision == "int8"
    entries = sorted(p.name for p in (tmp_path / "cache" / "onnx").iterdir())
    assert [e.split("-")[2][:4] for e in entries] == ["fp32", "int8"]  # quantised from the cached fp32 export
    stamp = (tmp_path / "cache" / "onnx" / entries[1] / "search.onnx").stat().st_mtime_ns
    assert load_engine(ckpt, providers=CPU).spec.precision == "int8"
    assert (tmp_path / "cache" / "onnx" / entries[1] / "search.onnx").stat().st_mtime_ns == stamp  # reused
    assert load_engine(ckpt, providers=CPU, precision="fp32").spec.precision == "fp32"
    with pytest.raises(ValueError, match="precision applies to checkpoints"):
        load_engine(tmp_path / "cache" / "onnx" / entries[0], precision="int8")
    # Running the cached graph imports neither torch nor onnx (start-up time and memory).
    run = subprocess.run(
        [sys.executable, "-c", NO_TORCH_TO_RUN, str(ckpt)], capture_output=True, text=True, env=os.environ
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[-2] == "int8 []", run.stdout


def test_shipping_check_writes_the_record_the_default_follows(tmp_path: Path, monkeypatch, shared: Path) -> None:
    from asymtrack_ros.training.int8_check import check_int8

    monkeypatch.setenv("ASYMTRACK_CACHE", str(tmp_path / "cache"))
    ckpt = _shipped_copy(tmp_path)
    listing = tmp_path / "one.txt"
    listing.write_text("Skiing\n")  # one short sequence of the validation split
    record = check_int8(ckpt, [f"otb:{shared / 'train_sequences'}@{listing}"])
    assert json.loads(int8_record_path(ckpt).read_text()) == record
    assert record["sequences"] == ["Skiing"] and record["checkpoint_sha1"] == file_digest(ckpt)
    assert all(0.0 <= record[k] <= 1.0 for k in ("fp32_auc", "int8_auc"))
    assert record["int8_default"] is (record["int8_auc"] >= record["fp32_auc"] - INT8_AUC_TOLERANCE)
    assert int8_holds(ckpt) is record["int8_default"]
