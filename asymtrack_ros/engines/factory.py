"""Build an engine and its tracker from a model path and a runtime choice, for a model of
any registered family (``families.registry``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from ..contracts.engine import Engine
from ..deploy.revisions import GRAPHS_REVISION, INT8_REVISION
from ..families.registry import by_name, of_checkpoint
from ..files.resources import cache_root, default_model_path
from ..tracking.tracker import Tracker, TrackerParams
from .onnx_engine import OnnxEngine, accelerated

log = logging.getLogger(__name__)
ENGINES = ("auto", "torch", "onnxruntime")
PRECISIONS = ("auto", "fp32", "int8")
# The int8 search graph becomes the CPU default of a checkpoint when shipping measured its
# success AUC on the validation split within this of the fp32 graph's.
INT8_AUC_TOLERANCE = 0.01


def file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def int8_record_path(checkpoint: Path) -> Path:
    """Where shipping records the int8 check of ``checkpoint`` (beside it, JSON)."""
    return checkpoint.with_name(checkpoint.stem + ".int8.json")


def int8_keeps_accuracy(fp32_auc: float, int8_auc: float) -> bool:
    return math.isfinite(fp32_auc) and math.isfinite(int8_auc) and int8_auc >= fp32_auc - INT8_AUC_TOLERANCE


def int8_holds(checkpoint: Path) -> bool:
    """Whether shipping measured the int8 search graph of exactly this file within
    ``INT8_AUC_TOLERANCE`` of its fp32 graph's AUC. No record, a record of other weights or
    an unreadable one: no (fp32 stays the default of unchecked weights).
    """
    path = int8_record_path(checkpoint)
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
        fp32, int8 = float(record["fp32_auc"]), float(record["int8_auc"])
        same_file = record["checkpoint_sha1"] == file_digest(checkpoint)
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("%s: unreadable int8 record (%s); using the fp32 graph", path, err)
        return False
    if not same_file:
        log.warning("%s records other weights than %s; using the fp32 graph", path, checkpoint.name)
        return False
    return int8_keeps_accuracy(fp32, int8)


def _exported_dir(checkpoint: Path, variant: str | None, precision: str) -> Path:
    """Export a checkpoint once (``precision`` fp32, fp16 or int8); later loads reuse the
    directory keyed by file content. The int8 graph is quantised from the fp32 export.
    """
    tag = f"int8q{INT8_REVISION}" if precision == "int8" else precision
    name = f"{file_digest(checkpoint)[:16]}-{variant or 'auto'}-{tag}-r{GRAPHS_REVISION}"
    out = cache_root() / "onnx" / name
    if (out / "model.json").is_file():
        return out
    family = of_checkpoint(checkpoint)
    if precision == "int8":
        from ..deploy.calibration import calibration_feeds
        from ..deploy.quantize import quantize_int8

        if "int8" not in family.export_options:
            raise ValueError(f"{checkpoint}: {family.title} has no int8 graph; use precision fp32 or auto")
        fp32 = _exported_dir(checkpoint, variant, "fp32")
        log.info("quantising %s to %s", fp32, out)

        def write(work: Path) -> None:
            shutil.copytree(fp32, work)
            quantize_int8(work, calibration_feeds)

    else:
        log.info("exporting %s to %s", checkpoint, out)

        def write(work: Path) -> None:
            family.export(family.load(checkpoint, variant), work, fp16=precision == "fp16")

    _write_whole(out, write)
    return out


def _write_whole(out: Path, write: Callable[[Path], None]) -> None:
    """``write`` an export into a folder beside ``out``, then move it into place whole: a
    killed run leaves no half-written cache entry. Another process that exported the same
    checkpoint meanwhile (two nodes starting at once) got there first: its copy is kept.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        work = Path(tmp) / "graph"
        write(work)
        try:
            work.rename(out)
        except OSError:
            if not (out / "model.json").is_file():
                raise


def graph_precision(path: Path, engine: str, providers: Sequence[str], fp16: bool, precision: str) -> str:
    """The precision a checkpoint runs in: ``auto`` is fp16 when asked, else int8 on a
    CPU-only onnxruntime where shipping verified it holds, else fp32. TensorRT and CUDA
    keep their float graphs.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "int8" and (fp16 or engine == "torch"):
        raise ValueError("precision int8 is an onnxruntime CPU graph: not with fp16 or engine torch")
    if fp16:
        return "fp16"
    if precision == "auto":
        cpu_only = engine != "torch" and not accelerated(providers)
        return "int8" if cpu_only and int8_holds(path) else "fp32"
    return precision


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
    precision: str = "auto",
    spin: bool = True,
) -> Engine:
    """``model`` is an exported directory (model.json) or a checkpoint file, by default the
    shipped weights (of ``family`` when given, see ``default_model_path``). ``auto`` runs on
    onnxruntime, exporting a checkpoint to the cache directory on first use, in the
    precision ``graph_precision`` picks. ``spin``: as ``OnnxEngine`` takes it.
    """
    if model is None:
        model = default_model_path(family)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    path = Path(model)
    if path.is_dir():
        if precision != "auto":
            raise ValueError(f"{path}: an exported model directory has its precision; precision applies to checkpoints")
        if engine == "torch":
            raise ValueError(f"{path}: an exported model directory runs on onnxruntime; give a checkpoint for torch")
        return OnnxEngine(path, providers, threads, trt_cache_dir, fp16, spin)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model directory or checkpoint")
    chosen = graph_precision(path, engine, providers, fp16, precision)
    if engine == "torch":
        from .torch_engine import TorchEngine  # torch only for the torch engine

        family = of_checkpoint(path)
        net = family.load(path, variant)
        return TorchEngine(net, family.spec(net), device, fp16)
    return OnnxEngine(_exported_dir(path, variant, chosen), providers, threads, trt_cache_dir, fp16, spin)


def create_tracker(engine: Engine, params: TrackerParams | None = None) -> Tracker:
    """The tracker of the engine's model family."""
    return by_name(engine.spec.family).tracker(engine, params)
