"""Parameters and multiply-accumulates of an ONNX graph (Conv, ConvTranspose, MatMul, Gemm
and their quantised forms), for networks we only have as ONNX files (the peers), counted
the same way as ``torch.utils.flop_counter`` counts ours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

# Counted nodes: the operation they compute, and the input indices of its data and weight.
COUNTED = {
    "Conv": ("Conv", 0, 1),
    "ConvInteger": ("Conv", 0, 1),
    "QLinearConv": ("Conv", 0, 3),
    "ConvTranspose": ("ConvTranspose", 0, 1),
    "MatMul": ("MatMul", 0, 1),
    "MatMulInteger": ("MatMul", 0, 1),
    "QLinearMatMul": ("MatMul", 0, 3),
    "Gemm": ("Gemm", 0, 1),
}


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for v in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = tuple(d.dim_value for d in dims)
    for t in model.graph.initializer:
        shapes[t.name] = tuple(t.dims)
    return shapes


def onnx_cost(path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, float]:
    """``params`` (initializer elements) and ``gmacs`` of one run of the graph at its
    declared input shapes, or at ``input_shapes`` for inputs with free dimensions. Raises
    ValueError when a counted node's shapes are unknown.
    """
    model = onnx.load(str(path))
    for inp in model.graph.input:
        for dim, size in zip(inp.type.tensor_type.shape.dim, (input_shapes or {}).get(inp.name, ())):
            dim.dim_value = size
    shapes = _shapes(model)
    params = sum(int(np.prod(numpy_helper.to_array(t).shape)) for t in model.graph.initializer)
    macs = 0
    for node in model.graph.node:
        if node.op_type not in COUNTED:
            continue
        op, data, weight = COUNTED[node.op_type]
        try:
            a, b, out = shapes[node.input[data]], shapes[node.input[weight]], shapes[node.output[0]]
        except KeyError:
            raise ValueError(f"{path}: shapes of {node.op_type} node {node.name!r} are not known") from None
        if op == "Conv":  # weight (C_out, C_in / groups, kh, kw)
            macs += int(np.prod(out)) * int(np.prod(b[1:]))
        elif op == "ConvTranspose":  # weight (C_in, C_out / groups, kh, kw)
            macs += int(np.prod(a)) * int(np.prod(b[1:]))
        elif op == "MatMul":
            macs += int(np.prod(out)) * a[-1]
        else:
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            macs += int(np.prod(out)) * (a[0] if trans_a else a[-1])
    return {"params": params, "gmacs": macs / 1e9}
