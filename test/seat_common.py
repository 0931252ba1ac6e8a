"""Shared SEAT test material: fixture paths, networks and exports built once per session."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from conftest import SHARED

from asymtrack_ros.models.seat.checkpoint import load_seat_checkpoint
from asymtrack_ros.models.seat.net import SeatNet

SEAT_FIXTURES = SHARED / "fixtures" / "seat"
PARITY_KEYS = ("neck_search_feat", "cfm_roi_align", "cfm_template_vec", "cfm_correlation", "cfm_out", "rfm_out")


@functools.cache
def seat_io(variant: str) -> dict[str, np.ndarray]:
    return dict(np.load(SEAT_FIXTURES / f"{variant}_io.npz"))


def checkpoint(variant: str) -> Path:
    return SEAT_FIXTURES / f"{variant}.pth"


@functools.cache
def seat_net(variant: str) -> SeatNet:
    return load_seat_checkpoint(checkpoint(variant))


@functools.cache
def seat_onnx(variant: str, npu_friendly: bool = False) -> Path:
    from asymtrack_ros.models.seat.deploy import export_seat

    out = Path(tempfile.mkdtemp(prefix=f"seat_{variant}_{'npu' if npu_friendly else 'ort'}_"))
    return export_seat(seat_net(variant), out, npu_friendly=npu_friendly)


def sample(io: dict[str, np.ndarray], i: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Template inputs and search inputs of fixture sample ``i`` (batch 1)."""
    t = {"template": io["template"][i : i + 1], "template_box": io["template_box"][i : i + 1]}
    return t, {"search": io["search"][i : i + 1]}
