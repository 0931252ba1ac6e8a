"""Calibration inputs for the int8 search graph (``quantize.quantize_int8``):
realistic crops rather than noise, which exercises ranges the tracker never feeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ..contracts.spec import ModelSpec
from ..models.asymtrack_variants import get_variant
from ..sampling.pairs import Augment, PairDataset, to_input
from ..sampling.synthetic import SyntheticSource


def calibration_feeds(model_dir: Path, spec: ModelSpec, pairs: int = 16, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Search-graph inputs for ``pairs`` procedural synthetic pairs: search crop plus the
    template graph's outputs for its template.
    """
    data = PairDataset(
        [SyntheticSource(procedural=True)], [1.0], get_variant(spec.variant), Augment(), seed=seed, length=pairs
    )
    template = ort.InferenceSession(str(model_dir / "template.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in template.get_outputs()]
    feeds = []
    for i in range(pairs):
        item = data[i]
        crops = {k: to_input(torch.from_numpy(item[k][None])).numpy() for k in ("template", "search")}
        cache = dict(zip(names, template.run(None, {spec.template_inputs[0]: crops["template"]})))
        feeds.append({spec.search_inputs[0]: crops["search"], **cache})
    return feeds
