"""What a deployed model is: the ``model.json`` contract shared by every engine."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPEC_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    """Pre/post-processing facts a runtime needs besides the graphs themselves."""

    family: str
    variant: str
    template_size: int
    search_size: int
    template_factor: float
    search_factor: float
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pixel_scale: float = 1.0 / 255.0  # input = (pixel * pixel_scale - mean) / std, RGB order
    template_inputs: tuple[str, ...] = ("template",)
    search_inputs: tuple[str, ...] = ("search",)
    cache_names: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ("boxes", "score")
    opset: int = 17
    precision: str = "fp32"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Types and ranges checked once, here: a bad model.json must fail to load, not fail on
        every frame once tracking starts.
        """
        for name in ("family", "variant", "precision"):
            _check(name, getattr(self, name), isinstance(getattr(self, name), str), "a string")
        for name in ("template_size", "search_size", "opset"):
            v = getattr(self, name)
            _check(name, v, isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer")
        for name in ("template_factor", "search_factor", "pixel_scale"):
            _check(name, getattr(self, name), _positive(getattr(self, name)), "a positive number")
        for name, ok in (("mean", _finite), ("std", _positive)):
            v = getattr(self, name)
            _check(name, v, isinstance(v, (tuple, list)) and len(v) == 3 and all(map(ok, v)), "3 numbers")
        for name in ("template_inputs", "search_inputs", "cache_names", "outputs"):
            v = getattr(self, name)
            names_ok = isinstance(v, (tuple, list)) and all(isinstance(n, str) for n in v)
            _check(name, v, names_ok and (name == "cache_names" or len(v) > 0), "a list of names")
        _check("extra", self.extra, isinstance(self.extra, dict), "a mapping")

    def to_json(self, path: Path) -> None:
        data = {"spec_version": SPEC_VERSION, **asdict(self)}
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def from_json(cls, path: Path) -> ModelSpec:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: cannot read model description: {err}") from None
        if not isinstance(data, dict) or data.pop("spec_version", None) != SPEC_VERSION:
            raise ValueError(f"{path}: not a model.json of spec_version {SPEC_VERSION}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v: Any) -> bool:
    return _finite(v) and v > 0


def _check(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"'{name}' must be {what}, got {value!r}")
