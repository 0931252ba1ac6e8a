"""The ImageNet teacher and feature distillation: the package's weights load into the
network written here, the teacher stays frozen, the loss trains the student and its
projection, and a distilling run resumes exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_training_loop import _config

from asymtrack_ros.models.safe_pickle import CheckpointError
from asymtrack_ros.training.teacher import (
    TEACHER_CHANNELS,
    FeatureDistillation,
    Lite0Trunk,
    load_teacher,
    package_weights,
    teacher_input,
)
from asymtrack_ros.training.trainer import Trainer, train


@pytest.fixture(scope="module")
def teacher() -> Lite0Trunk:
    return load_teacher()


def test_package_weights_load_and_give_stride_16_features(teacher: Lite0Trunk) -> None:
    assert package_weights().is_file()
    x = torch.randn(2, 3, 256, 256)
    out = teacher(x)
    assert out.shape == (2, TEACHER_CHANNELS, 16, 16) and torch.isfinite(out).all()
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training


def test_teacher_input_undoes_the_student_normalisation() -> None:
    pixels = torch.tensor([0.0, 127.0, 255.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    out = teacher_input((pixels - mean) / std)
    torch.testing.assert_close(out, (pixels - 127) / 128, atol=1e-5, rtol=0)


def test_a_file_that_is_not_the_teacher_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="not EfficientNet-Lite0 weights"):
        load_teacher(bad)
    (tmp_path / "text.pth").write_text("not a tensor file")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_teacher(tmp_path / "text.pth")


def test_distillation_moves_student_and_projection_not_teacher(teacher: Lite0Trunk) -> None:
    torch.manual_seed(0)
    distill = FeatureDistillation(teacher).train()
    assert not distill.teacher.training  # its BatchNorm statistics stay ImageNet's
    student = torch.randn(2, 256, 8, 8, requires_grad=True)
    loss = distill(student, torch.randn(2, 3, 256, 256))
    assert 0.0 <= float(loss.detach()) <= 2.0
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert distill.project.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in distill.teacher.parameters())


def test_distilling_run_logs_its_loss_and_resumes(tmp_path: Path) -> None:
    cfg = _config("distill.weight=1.0", "optim.max_iters=2")
    partial = train(cfg, tmp_path / "a")
    trainer = Trainer(_config("distill.weight=1.0"), tmp_path / "a", resume=partial)
    assert trainer.step == 2 and trainer.distill is not None
    with pytest.raises(CheckpointError, match="distillation setting"):
        Trainer(_config(), tmp_path / "b", resume=partial)
    rows = (tmp_path / "a" / "log.jsonl").read_text()
    assert '"distill"' in rows
