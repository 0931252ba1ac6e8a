"""SEAT deployment: example inputs, the split ONNX export, and what an NPU toolchain would
have to leave on the CPU.

Default export: the search graph takes any search size (the tracker switches to a larger
one for small targets). ``npu_friendly``: fixed sizes and the same maths without the ops
NPU compilers typically reject (the original al model fell into 14 subgraphs on the X3).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import torch

from ..models.seat.arch import SeatArch
from ..models.seat.net import SeatNet
from ..tracking.seat_tracker import template_box
from .export import export_onnx

# Op types NPU toolchains commonly cannot place on the accelerator (CPU fallback splits
# the graph). RoiAlign / MatMul / GroupNorm (as InstanceNormalization) / Softmax have an
# exact replacement in the NPU form; the rest are reported.
NPU_AVOIDED = ("RoiAlign", "MatMul", "Einsum", "InstanceNormalization", "GroupNormalization", "Softmax")
NPU_RISKY = ("Cos", "Sin", "Erf", "Exp", "Gather", "Conv with non-constant weights")


def example_inputs(arch: SeatArch, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t, s = arch.template_size, arch.search_size
    return {
        "template": torch.randint(0, 256, (1, 3, t, t), generator=gen).float(),
        "template_box": torch.from_numpy(template_box(t, arch.tracker.context_amount, 60.0, 40.0)),
        "search": torch.randint(0, 256, (1, 3, s, s), generator=gen).float(),
    }


def export_seat(
    net: SeatNet, out_dir: str | Path, npu_friendly: bool = False, fp16: bool = False, seed: int = 0
) -> Path:
    """template.onnx (template, template_box -> cache), search.onnx (search + cache -> cls,
    reg) and model.json for ``net``.
    """
    net = net.eval().set_npu_friendly(npu_friendly)
    try:
        spec = net.spec("fp16" if fp16 else "fp32", npu_friendly)
        dynamic = None if npu_friendly else {"search": {2: "search_height", 3: "search_width"}}
        return export_onnx(net, spec, out_dir, example_inputs(net.arch, seed), fp16, search_dynamic_axes=dynamic)
    finally:
        net.set_npu_friendly(False)


def op_census(model_dir: str | Path) -> dict[str, dict[str, int]]:
    """Node op types per graph of an exported model."""
    return {
        name: dict(Counter(n.op_type for n in onnx.load(str(Path(model_dir) / f"{name}.onnx")).graph.node))
        for name in ("template", "search")
    }


def npu_report(model_dir: str | Path) -> str:
    """Which nodes of an exported model an NPU compiler would typically refuse."""
    lines = []
    for graph, ops in op_census(model_dir).items():
        avoided = {k: v for k, v in ops.items() if k in NPU_AVOIDED}
        risky = {k: v for k, v in ops.items() if k in NPU_RISKY}
        lines.append(
            f"{graph}.onnx: {sum(ops.values())} nodes; NPU-hostile {avoided or 'none'}; check {risky or 'none'}"
        )
    return "\n".join(lines)
