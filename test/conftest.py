"""Shared test fixtures: the reference material beside the repository (../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Fuzz tests: the same examples on every run (a failure reproduces), a budget fixed per
# boundary in each test's @settings (the CI share stays bounded), no time limit per example
# (a loaded machine must not fail a test) and no example database written into the tree.
settings.register_profile(
    "asymtrack",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("asymtrack")

SHARED = Path(__file__).resolve().parents[2] / "shared"
ASYM_FIXTURES = SHARED / "fixtures" / "asymtrack"
SEQUENCES = SHARED / "sequences"


@pytest.fixture(scope="module")
def context():
    """An rclpy context per test module, discovery kept on this machine."""
    import rclpy

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), f"reference material missing: {SHARED}"
    return SHARED


def asym_io(variant: str) -> dict[str, np.ndarray]:
    return dict(np.load(ASYM_FIXTURES / f"{variant}_io.npz"))


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    path = ASYM_FIXTURES / "tiny.pth.tar"
    assert path.is_file(), f"fixture checkpoint missing: {path}"
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """The tiny fixture checkpoint exported once for the whole session."""
    import torch

    from asymtrack_ros.deploy.export import export_onnx
    from asymtrack_ros.models.asymtrack_variants import model_spec
    from asymtrack_ros.models.checkpoint import load_checkpoint

    io = asym_io("tiny")
    out = tmp_path_factory.mktemp("tiny_onnx")
    example = {"template": torch.from_numpy(io["template"][:1]), "search": torch.from_numpy(io["search"][:1])}
    return export_onnx(load_checkpoint(tiny_checkpoint, "tiny"), model_spec("tiny"), out, example)
