"""Int8 search graph for onnxruntime on CPUs (``asymtrack export --int8``).

Two kinds of int8, each where it pays on a CPU with VNNI / AMX:
- the matrix products with constant weights get int8 weights, their activations quantised
  per frame (dynamic: nothing to calibrate); products of two activations (attention,
  ETM's token sums) stay fp32;
- the dense convolutions (the corner head's, the largest share of the frame's
  multiply-adds, the backbone's 3x3 blocks and downsampling, the score head) get int8
  weights per channel and int8 activations with ranges calibrated on realistic crops,
  which the caller supplies (``calibration.calibration_feeds``: procedural synthetic
  pairs through the tracker's crop geometry).
The depthwise convolutions stay fp32 (int8 measured no faster there), and so does the
patch embedding, which reads the image itself. Quantising the backbone's dense
convolutions too made the search graph 0.82x as long on one core (same run, interleaved).
The template graph runs once per target and stays fp32.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import onnx

from ..contracts.spec import ModelSpec


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs pre-processing advice on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _dense(conv: onnx.NodeProto, weights: dict[str, onnx.TensorProto]) -> bool:
    """A convolution mixing several channels of features (not depthwise, not on pixels)."""
    weight = weights.get(conv.input[1])
    return weight is not None and weight.dims[1] > 3


# The search graph's inputs (crop and template cache) for calibration crops, from an export's
# directory and description.
Calibration = Callable[[Path, ModelSpec], list[dict[str, np.ndarray]]]


def quantize_int8(model_dir: str | Path, calibration: Calibration) -> None:
    """Rewrite ``model_dir/search.onnx`` in int8 (see the module doc), its activation ranges
    measured on ``calibration``'s inputs; model.json's precision becomes ``int8``.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    model_dir = Path(model_dir)
    spec = ModelSpec.from_json(model_dir / "model.json")
    if spec.precision != "fp32":
        raise ValueError(f"{model_dir}: int8 starts from an fp32 export, this one is {spec.precision}")
    path, dynamic, static = (model_dir / n for n in ("search.onnx", "search.dyn.onnx", "search.int8.onnx"))
    graph = onnx.load(str(path)).graph
    weights = {t.name: t for t in graph.initializer}
    constants = set(weights)
    two_activations = [
        n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and not constants & set(n.input[:2])
    ]
    dense_convs = [n.name for n in graph.node if n.op_type == "Conv" and _dense(n, weights)]
    feeds = calibration(model_dir, spec)
    with _quiet_root_logger():
        quantize_dynamic(
            path,
            dynamic,
            op_types_to_quantize=["MatMul", "Gemm"],
            weight_type=QuantType.QInt8,
            nodes_to_exclude=two_activations,
        )
        quantize_static(
            dynamic,
            static,
            _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            nodes_to_quantize=dense_convs,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
    dynamic.unlink()
    static.replace(path)
    ModelSpec(**{**spec.__dict__, "precision": "int8"}).to_json(model_dir / "model.json")
