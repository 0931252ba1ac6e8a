"""Checkpoint files are data: nothing in them may run, and bad files get clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ASYM_FIXTURES, asym_io

from asymtrack_ros.models.checkpoint import load_checkpoint
from asymtrack_ros.models.safe_pickle import CheckpointError, UnsafePickleError, read_checkpoint


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_pickle_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pth.tar"
    torch.save({"net": {}, "settings": _RunsCode(marker)}, evil)
    with pytest.raises(UnsafePickleError, match="evil.pth.tar"):
        load_checkpoint(evil, "tiny")
    assert not marker.exists()


def test_foreign_settings_object_is_skipped_and_read_as_data(tiny_checkpoint: Path) -> None:
    ckpt = read_checkpoint(tiny_checkpoint)
    assert ckpt["settings"].state["config_name"] == "tiny"
    assert "lib.train.admin.settings" in repr(ckpt["settings"])


def test_truncated_file(tmp_path: Path, tiny_checkpoint: Path) -> None:
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:50_000])
    with pytest.raises(CheckpointError, match="cut.pth.tar.*truncated or corrupt"):
        load_checkpoint(cut, "tiny")


def test_missing_and_non_checkpoint_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pth", "tiny")
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(junk, "tiny")
    torch.save({"epoch": 1}, tmp_path / "nonet.pth")
    with pytest.raises(CheckpointError, match="no AsymTrack state dict"):
        load_checkpoint(tmp_path / "nonet.pth", "tiny")


@pytest.mark.parametrize(
    ("path", "asked", "message"),
    [
        ("small.pth.tar", "tiny", "AsymTrack-small, asked for AsymTrack-tiny"),
        ("base.pth.tar", "small", "AsymTrack-base, asked for AsymTrack-small"),
    ],
)
def test_wrong_variant(path: str, asked: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(ASYM_FIXTURES / path, asked)


def test_key_mismatch_without_recorded_variant(tmp_path: Path) -> None:
    state = read_checkpoint(ASYM_FIXTURES / "small.pth.tar")["net"]
    torch.save({"net": state}, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match="keys do not match AsymTrack-tiny"):
        load_checkpoint(tmp_path / "bare.pth", "tiny")
    assert load_checkpoint(tmp_path / "bare.pth", "small").variant.name == "small"


def test_unknown_variant_name(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="unknown AsymTrack variant 'huge'"):
        load_checkpoint(tiny_checkpoint, "huge")


def test_deploy_form_fp16_round_trip(tmp_path: Path, tiny_checkpoint: Path) -> None:
    net = load_checkpoint(tiny_checkpoint, "tiny")
    state = {k: v.half() for k, v in net.state_dict().items()}
    torch.save({"net": state, "variant": "tiny"}, tmp_path / "deploy.pth")
    again = load_checkpoint(tmp_path / "deploy.pth")
    io = asym_io("tiny")
    with torch.no_grad():
        out = again.track(torch.from_numpy(io["search"]), again.encode_template(torch.from_numpy(io["template"])))
    np.testing.assert_allclose(out["boxes"].numpy(), io["boxes_deploy"][:, 0], atol=2e-2)
