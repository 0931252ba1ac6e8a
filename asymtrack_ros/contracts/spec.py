"""What a deployed model is: the ``model.json`` contract shared by every engine."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
        except TypeError as err:
            raise ValueError(f"{path}: {err}") from None
