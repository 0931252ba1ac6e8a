"""Build an engine and its tracker from a model path and a runtime choice."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Sequence

import torch

from ..contracts.engine import Engine
from ..files.resources import cache_root, default_model_path
from ..models.asymtrack import model_spec
from ..models.checkpoint import load_checkpoint
from ..models.seat.checkpoint import is_seat_file, load_seat_checkpoint
from ..tracking.asymtrack_tracker import AsymTrackTracker
from ..tracking.seat_tracker import SeatTracker
from ..tracking.tracker import Tracker, TrackerParams
from .onnx_engine import OnnxEngine
from .torch_engine import TorchEngine

log = logging.getLogger(__name__)
ENGINES = ("auto", "torch", "onnxruntime")
TRACKERS = {"asymtrack": AsymTrackTracker, "seat": SeatTracker}


def _exported_dir(checkpoint: Path, variant: str | None, fp16: bool) -> Path:
    """Export a checkpoint once; later loads reuse the directory keyed by file content."""
    from ..deploy.export import GRAPHS_REVISION, export_onnx

    digest = hashlib.sha1(checkpoint.read_bytes()).hexdigest()[:16]
    name = f"{digest}-{variant or 'auto'}-{'fp16' if fp16 else 'fp32'}-r{GRAPHS_REVISION}"
    out = cache_root() / "onnx" / name
    if not (out / "model.json").is_file() and is_seat_file(checkpoint):
        from ..models.seat.deploy import export_seat

        log.info("exporting %s to %s", checkpoint, out)
        export_seat(load_seat_checkpoint(checkpoint, variant), out, fp16=fp16)
    elif not (out / "model.json").is_file():
        net = load_checkpoint(checkpoint, variant)
        spec = model_spec(net.variant)
        example = {
            "template": torch.zeros(1, 3, spec.template_size, spec.template_size),
            "search": torch.zeros(1, 3, spec.search_size, spec.search_size),
        }
        log.info("exporting %s to %s", checkpoint, out)
        export_onnx(net, spec, out, example, fp16=fp16)
    return out


def load_engine(
    model: str | Path | None = None,
    engine: str = "auto",
    variant: str | None = None,
    providers: Sequence[str] = ("tensorrt", "cuda", "cpu"),
    device: str = "cpu",
    fp16: bool = False,
    threads: int = 0,
    trt_cache_dir: str | None = None,
    family: str | None = None,
) -> Engine:
    """``model`` is an exported directory (model.json) or a checkpoint file, by default the
    shipped weights (of ``family`` when given, see ``default_model_path``). ``auto`` runs on
    onnxruntime, exporting a checkpoint to the cache directory on first use.
    """
    if model is None:
        model = default_model_path(family)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    path = Path(model)
    if path.is_dir():
        if engine == "torch":
            raise ValueError(f"{path}: an exported model directory runs on onnxruntime; give a checkpoint for torch")
        return OnnxEngine(path, providers, threads, trt_cache_dir, fp16)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model directory or checkpoint")
    if engine == "torch" and is_seat_file(path):
        net = load_seat_checkpoint(path, variant)
        return TorchEngine(net, net.spec(), device, fp16)
    if engine == "torch":
        net = load_checkpoint(path, variant)
        return TorchEngine(net, model_spec(net.variant), device, fp16)
    return OnnxEngine(_exported_dir(path, variant, fp16), providers, threads, trt_cache_dir, fp16)


def create_tracker(engine: Engine, params: TrackerParams | None = None) -> Tracker:
    family = engine.spec.family
    if family not in TRACKERS:
        raise ValueError(f"no tracker for model family {family!r}")
    return TRACKERS[family](engine, params)
