"""Shared SEAT test material: fixture paths, networks and exports built once per session."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
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


EXPORT_CACHE = Path(tempfile.mkdtemp(prefix="seat_onnx_cache_"))


@functools.cache
def seat_onnx(variant: str) -> Path:
    """The fixture checkpoint exported as ``load_engine`` does it, into EXPORT_CACHE (tests
    that load the checkpoint on onnxruntime with that cache then reuse it).
    """
    from asymtrack_ros.engines import factory

    previous = os.environ.get("ASYMTRACK_CACHE")
    os.environ["ASYMTRACK_CACHE"] = str(EXPORT_CACHE)
    try:
        return factory._exported_dir(checkpoint(variant), None, "fp32")
    finally:
        if previous is None:
            del os.environ["ASYMTRACK_CACHE"]
        else:
            os.environ["ASYMTRACK_CACHE"] = previous


def sample(io: dict[str, np.ndarray], i: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Template inputs and search inputs of fixture sample ``i`` (batch 1)."""
    t = {"template": io["template"][i : i + 1], "template_box": io["template_box"][i : i + 1]}
    return t, {"search": io["search"][i : i + 1]}


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine two threads stall each other at
    every barrier (seconds per forward); one runs at full speed.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
