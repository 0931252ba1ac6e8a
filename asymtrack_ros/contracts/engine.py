"""One interface over every runtime: named numpy tensors in, named numpy tensors out.

A family's tracker (its crops and post-processing) talks to an ``Engine`` only through
``encode_template`` (run once per target) and ``track`` (run per frame with the cache).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .spec import ModelSpec

TemplateCache = Any  # engine-specific, opaque to trackers


class Engine(Protocol):
    spec: ModelSpec
    name: str  # "torch" or "onnxruntime"
    provider: str  # the device / execution provider actually used

    def encode_template(self, inputs: dict[str, np.ndarray]) -> TemplateCache: ...

    def track(self, inputs: dict[str, np.ndarray], cache: TemplateCache) -> dict[str, np.ndarray]: ...
