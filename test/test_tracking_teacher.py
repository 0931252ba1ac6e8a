"""The tracking teacher: LightFC's maps and boxes on the student's own crops (real
onnxruntime, real pairs), a loss that the student can lower, and runs that resume exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import SEQUENCES, SHARED
from test_training_loop import _config

from asymtrack_ros.models.asymtrack import AsymTrack
from asymtrack_ros.models.safe_pickle import CheckpointError, read_checkpoint
from asymtrack_ros.sampling.pairs import Augment, PairDataset, collate, to_input
from asymtrack_ros.training.asymtrack_objective import TrainingNet
from asymtrack_ros.training.config import ConfigError
from asymtrack_ros.training.datasets import Otb
from asymtrack_ros.training.losses import box_loss
from asymtrack_ros.training.tracking_teacher import MapHead, TeacherTargets, teacher_loss
from asymtrack_ros.training.trainer import Trainer, train

PEERS = str(SHARED / "peers")
TEACHER = [f"teacher.model={PEERS}"]


@pytest.fixture(scope="module")
def real_batch() -> dict[str, torch.Tensor]:
    """Six real pairs (two sequences of the training copy), no negatives."""
    source = Otb(SEQUENCES.parent / "train_sequences", exclude=[])
    source.folders = [f for f in source.folders if f.name in ("Car1", "Couple")]
    data = PairDataset([source], [1.0], AsymTrack("tiny").variant, Augment(), seed=1, length=6)
    return collate([data[i] for i in range(6)])


@pytest.fixture(scope="module")
def targets(real_batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return TeacherTargets(PEERS)(to_input(real_batch["template"]), to_input(real_batch["search"]), 8)


def test_teacher_maps_are_distributions_and_its_boxes_find_the_targets(
    real_batch: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> None:
    assert targets["map"].shape == (6, 8, 8) and (targets["map"] >= 0).all()
    torch.testing.assert_close(targets["map"].sum(dim=(1, 2)), torch.ones(6))
    assert targets["box"].shape == (6, 4) and ((targets["peak"] >= 0) & (targets["peak"] <= 1)).all()
    _, stats = box_loss(targets["box"], real_batch["box"])
    assert stats["iou"] > 0.5  # LightFC is right on real pairs: the wrapper reads its maps right
    peak_cell = targets["map"].flatten(1).argmax(1)
    cx, cy = (real_batch["box"][:, :2] * 8).long().clamp(0, 7).unbind(1)
    assert ((peak_cell // 8 - cy).abs() <= 1).float().mean() > 0.5 and ((peak_cell % 8 - cx).abs() <= 1).any()


def test_teacher_loss_decreases_on_a_fixed_set(
    real_batch: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
) -> None:
    torch.manual_seed(0)
    net, head = AsymTrack("tiny"), MapHead()
    model = TrainingNet(net, map_head=head).train()
    opt = torch.optim.AdamW([*net.parameters(), *head.parameters()], lr=1e-3)
    template, search = to_input(real_batch["template"]), to_input(real_batch["search"])
    no_negatives = (torch.zeros(0, 3, 256, 256), torch.zeros(0, dtype=torch.long))
    kls = []
    for _ in range(8):
        out = model(template, search, *no_negatives)
        loss, stats = teacher_loss(out["teacher_logits"], out["boxes"], targets, 1.0, 0.5, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        kls.append(float(stats["teacher_kl"]))
    assert kls[-1] < 0.7 * kls[0], kls


def test_a_teacher_run_logs_its_terms_and_resumes_exactly(tmp_path: Path) -> None:
    straight = train(_config(*TEACHER), tmp_path / "straight")
    rows = [json.loads(r) for r in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert all("teacher_kl" in r and r["teacher_kl"] >= 0 for r in rows if "loss" in r)
    partial = train(_config(*TEACHER, "optim.max_iters=3"), tmp_path / "resumed")
    assert read_checkpoint(partial)["teacher_head"] is not None
    with pytest.raises(CheckpointError, match="tracking teacher"):
        Trainer(_config(), tmp_path / "other", resume=partial)
    resumed = train(_config(*TEACHER), tmp_path / "resumed", resume=partial)
    a, b = read_checkpoint(straight), read_checkpoint(resumed)
    assert a["progress"]["step"] == b["progress"]["step"] == 4
    for key, value in a["net"].items():
        torch.testing.assert_close(b["net"][key], value, rtol=0, atol=1e-6, msg=key)
    for key, value in a["teacher_head"].items():
        torch.testing.assert_close(b["teacher_head"][key], value, rtol=0, atol=1e-6, msg=key)


def test_teacher_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="AsymTrack only"):
        _config(*TEACHER, "model.family=seat")
    with pytest.raises(ConfigError, match="must be >= 0"):
        _config(*TEACHER, "teacher.box_weight=-1")
    with pytest.raises(ValueError, match="not found"):
        TeacherTargets("/nonexistent")
