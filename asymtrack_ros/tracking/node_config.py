"""The tracker node's parameters: names, defaults, meaning, and validation (ROS-free).

The node declares every field of ``TrackerNodeConfig`` as a ROS parameter with its
default and reads them back through ``from_params``, which checks types and ranges and
raises ``ConfigError`` naming the parameter: a wrong value in a YAML file should stop
the node with one clear line, not a traceback.
It lives here, below the nodes, so that the demo reads config/tracker.yaml as the node does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from .tracker import TrackerParams

ENGINES = ("auto", "torch", "onnxruntime")
PRECISIONS = ("auto", "fp32", "int8")
PROVIDERS = ("tensorrt", "cuda", "cpu")
TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TrackerNodeConfig:
    model_path: str = ""
    model_family: str = ""
    model_variant: str = ""
    engine: str = "auto"
    providers: tuple[str, ...] = PROVIDERS
    device: str = "cpu"
    fp16: bool = False
    precision: str = "auto"
    threads: int = 0
    trt_cache_dir: str = ""
    # The tracker's own parameters, under their TrackerParams names and defaults.
    lost_threshold: float = TrackerParams.lost_threshold
    found_threshold: float = TrackerParams.found_threshold
    lost_patience: int = TrackerParams.lost_patience
    lost_search_growth: float = TrackerParams.lost_search_growth
    max_search_factor: float = TrackerParams.max_search_factor
    min_box_size: float = TrackerParams.min_box_size
    max_scale_change: float = TrackerParams.max_scale_change
    size_update_rate: float = TrackerParams.size_update_rate
    window_influence: float = TrackerParams.window_influence
    size_penalty_k: float = TrackerParams.size_penalty_k
    corner_prior_sigma: float = TrackerParams.corner_prior_sigma
    size_calibration: float = TrackerParams.size_calibration
    colour_floor: float = TrackerParams.colour_floor
    buffer_length: int = 30
    stamp_tolerance_ms: float = 20.0
    default_box_size: float = 64.0
    point_box_min_size: float = 16.0
    point_box_max_size: float = 256.0
    image_transport: str = "raw"
    image_qos_reliability: str = "best_effort"
    image_qos_depth: int = 1
    diagnostics_period_s: float = 1.0

    def tracker_params(self) -> TrackerParams:
        """The tracker's parameters; frames are kept in BGR order (bgr8 stays zero-copy)."""
        names = [f.name for f in fields(TrackerParams) if f.name != "bgr_input"]
        return TrackerParams(**{n: getattr(self, n) for n in names}, bgr_input=True)


DESCRIPTIONS = {
    "model_path": "exported ONNX model directory (with model.json) or a checkpoint file (exported once, cached); "
    "empty: the weights shipped with the package",
    "model_family": "tracker family the model must be of (asymtrack, seat); with no model_path, that family's "
    "shipped weights; empty: whatever the model is",
    "model_variant": "checkpoint variant (tiny, small, base); empty: what the checkpoint records",
    "engine": "auto (onnxruntime), onnxruntime or torch",
    "providers": "onnxruntime execution providers in order of preference: tensorrt, cuda, cpu",
    "device": "torch device for engine torch (cpu, cuda)",
    "fp16": "half precision (TensorRT / CUDA / torch on CUDA)",
    "threads": "onnxruntime intra-op threads; 0: onnxruntime's default",
    "precision": "auto (int8 on a CPU where shipping verified it), fp32 or int8; checkpoints only",
    "trt_cache_dir": "TensorRT engine cache directory; empty: <cache>/tensorrt",
    "lost_threshold": "a score below this counts towards LOST",
    "found_threshold": "while LOST, a score at or above this re-acquires the target",
    "lost_patience": "consecutive low-score frames before TRACKING -> LOST",
    "lost_search_growth": "search region growth per lost frame",
    "max_search_factor": "largest search region as a multiple of the target size",
    "min_box_size": "smallest tracked box side [px]",
    "max_scale_change": "largest per-frame growth or shrink of the box sides (ratio > 1)",
    "size_update_rate": "share of the predicted size change taken per frame at score 1, (0, 1]; 1: no damping",
    "window_influence": "AsymTrack: weight of the cosine window on the score of a box far from the last, [0, 1]",
    "size_penalty_k": "AsymTrack: score penalty on a re-detection's size and aspect change, >= 0; 0: none",
    "corner_prior_sigma": "AsymTrack: width of the Gaussian prior about the last box's corners that picks each "
    "corner heatmap's peak while tracking, in target sizes, >= 0; 0: none",
    "size_calibration": "share of the box size error measured on the selection frame that is removed "
    "from later boxes (log scale), [0, 1]; 0: none",
    "colour_floor": "a box holding less than this share of the selected target's colours (against its "
    "surroundings at selection) has its score scaled by share / colour_floor, (0, 1]; 0: no colour check",
    "buffer_length": "frames kept with their stamps for stamp-matched initialisation (~1 s of video)",
    "stamp_tolerance_ms": "a selection stamp matches the nearest buffered frame within this [ms]",
    "default_box_size": "box side [px] for a point selection when the image gives no usable region",
    "point_box_min_size": "smallest box side [px] grown around a selected point",
    "point_box_max_size": "largest box side [px] grown around a selected point",
    "image_transport": "raw (subscribes image) or compressed (subscribes image/compressed)",
    "image_qos_reliability": "image subscription reliability: best_effort (sensor data) or reliable",
    "image_qos_depth": "image subscription queue depth (keep last)",
    "diagnostics_period_s": "period of the /diagnostics status [s]",
}


def parameter_defaults() -> dict[str, Any]:
    """ROS parameter name -> default value (lists for arrays)."""
    defaults = TrackerNodeConfig()
    out = {}
    for f in fields(TrackerNodeConfig):
        value = getattr(defaults, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ConfigError(f"parameter '{name}' must be true or false, got {v!r}")


def _int(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"parameter '{name}' must be an integer, got {v!r}")
    if v < lo:
        raise ConfigError(f"parameter '{name}' must be >= {lo}, got {v}")
    return v


def _float(name: str, v: Any, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"parameter '{name}' must be a finite number, got {v!r}")
    if v < lo or v > hi or (lo_open and v == lo):
        bound = f"> {lo}" if lo_open else f">= {lo}"
        raise ConfigError(
            f"parameter '{name}' must be {bound}" + (f" and <= {hi}" if hi < math.inf else "") + f", got {v}"
        )
    return float(v)


def _choice(name: str, v: Any, choices: Sequence[str]) -> str:
    if not isinstance(v, str) or v.lower() not in choices:
        raise ConfigError(f"parameter '{name}' must be one of {', '.join(choices)}; got {v!r}")
    return v.lower()


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"parameter '{name}' must be a string, got {v!r}")
    return v.strip()


def _family(v: Any, families: Sequence[str] | None) -> str:
    if v == "":
        return ""
    if not isinstance(v, str) or (families is not None and v.lower() not in families):
        known = "a family name" if families is None else f"one of {', '.join(families)}"
        raise ConfigError(f"parameter 'model_family' must be empty (any) or {known}; got {v!r}")
    return v.lower()


def _providers(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(p, str) for p in items):
        raise ConfigError(f"parameter 'providers' must be a non-empty list of strings, got {v!r}")
    return tuple(_choice("providers", p.strip(), PROVIDERS) for p in items)


def from_params(values: Mapping[str, Any], families: Sequence[str] | None = ("asymtrack",)) -> TrackerNodeConfig:
    """Validated configuration from parameter values (missing names keep defaults).
    ``families=None`` defers the model family check (known only once the engines load).
    """
    d = {**parameter_defaults(), **values}
    c = dict(
        model_path=_str("model_path", d["model_path"]),
        model_family=_family(d["model_family"], families),
        model_variant=_str("model_variant", d["model_variant"]),
        engine=_choice("engine", d["engine"], ENGINES),
        providers=_providers(d["providers"]),
        device=_str("device", d["device"]),
        fp16=_bool("fp16", d["fp16"]),
        precision=_choice("precision", d["precision"], PRECISIONS),
        threads=_int("threads", d["threads"], 0),
        trt_cache_dir=_str("trt_cache_dir", d["trt_cache_dir"]),
        lost_threshold=_float("lost_threshold", d["lost_threshold"], 0.0, 1.0),
        found_threshold=_float("found_threshold", d["found_threshold"], 0.0, 1.0),
        lost_patience=_int("lost_patience", d["lost_patience"], 1),
        lost_search_growth=_float("lost_search_growth", d["lost_search_growth"], 1.0),
        max_search_factor=_float("max_search_factor", d["max_search_factor"], 1.0),
        min_box_size=_float("min_box_size", d["min_box_size"], 1.0),
        max_scale_change=_float("max_scale_change", d["max_scale_change"], 1.0, lo_open=True),
        size_update_rate=_float("size_update_rate", d["size_update_rate"], 0.0, 1.0, lo_open=True),
        window_influence=_float("window_influence", d["window_influence"], 0.0, 1.0),
        size_penalty_k=_float("size_penalty_k", d["size_penalty_k"], 0.0),
        corner_prior_sigma=_float("corner_prior_sigma", d["corner_prior_sigma"], 0.0),
        size_calibration=_float("size_calibration", d["size_calibration"], 0.0, 1.0),
        colour_floor=_float("colour_floor", d["colour_floor"], 0.0, 1.0),
        buffer_length=_int("buffer_length", d["buffer_length"], 1),
        stamp_tolerance_ms=_float("stamp_tolerance_ms", d["stamp_tolerance_ms"], 0.0),
        default_box_size=_float("default_box_size", d["default_box_size"], 1.0),
        point_box_min_size=_float("point_box_min_size", d["point_box_min_size"], 1.0),
        point_box_max_size=_float("point_box_max_size", d["point_box_max_size"], 1.0),
        image_transport=_choice("image_transport", d["image_transport"], TRANSPORTS),
        image_qos_reliability=_choice("image_qos_reliability", d["image_qos_reliability"], RELIABILITIES),
        image_qos_depth=_int("image_qos_depth", d["image_qos_depth"], 1),
        diagnostics_period_s=_float("diagnostics_period_s", d["diagnostics_period_s"], 0.0, lo_open=True),
    )
    if c["found_threshold"] < c["lost_threshold"]:
        raise ConfigError(
            f"parameter 'found_threshold' ({c['found_threshold']}) must be >= lost_threshold ({c['lost_threshold']})"
        )
    if c["point_box_max_size"] < c["point_box_min_size"]:
        raise ConfigError("parameter 'point_box_max_size' must be >= point_box_min_size")
    if not c["point_box_min_size"] <= c["default_box_size"] <= c["point_box_max_size"]:
        raise ConfigError("parameter 'default_box_size' must lie between point_box_min_size and point_box_max_size")
    return TrackerNodeConfig(**c)
