"""Latency look-up table: every candidate op of the search space timed on this machine at
the search feature resolution (onnxruntime CPU or torch), cached in a JSON file per
device signature so later searches on the same machine reuse it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..models.seat.arch import SeatArch
from ..models.seat.backbones import build_backbone
from ..models.seat.net import CFM, Collector, Head, Neck
from ..models.seat.ops import build_op
from .space import SearchSpace, build_graph

log = logging.getLogger(__name__)
BACKENDS = ("onnxruntime", "torch")
FORMAT = "seat-lut/1"


def op_key(name: str, c_in: int, c_out: int, res: int) -> str:
    return f"{name}|{c_in}>{c_out}|{res}x{res}"


def collector_key(c_in: int, c_out: int, res: int) -> str:
    return f"collector|{c_in}>{c_out}|{res}x{res}"


def static_key(base: SeatArch) -> str:
    """Backbone + neck + CFM (search side) + head: the part the search does not change."""
    return (
        f"static|{base.backbone}|neck{base.neck[0]}>{base.neck[1]}|cfm{base.cfm_channels},{base.cfm_hidden},"
        f"{base.cfm_out}|head{base.head_channels}x{base.head_tower}|{base.search_size}"
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_signature(backend: str, device: str = "cpu", threads: int = 0) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{backend}|{torch.cuda.get_device_name(torch.device(device))}"
    return f"{backend}|{_cpu_name()}|threads={threads or torch.get_num_threads()}"


def arch_latency(arch: SeatArch, lut: dict[str, float]) -> float:
    """Per-frame latency (ms) of one concrete architecture by the table: what the search's
    cost model says of it, to set beside a measured figure (``asymtrack bench``).
    """
    res = arch.search_feat()
    total = lut[static_key(arch)] + lut[collector_key(*arch.collector, res)]
    for b in arch.blocks:
        total += lut[op_key(b.head_op, b.in_channels, b.out_channels, res)]
        total += sum(lut[op_key(op, b.out_channels, b.out_channels, res)] for op in b.stack_ops)
    return total


def busy_message(load: float, cores: int) -> str | None:
    """Why a table measured now would be wrong: other jobs on the cores price each op by
    the contention of the moment, and the cached table keeps that for every later search.
    """
    if load <= 0.5 * cores:
        return None
    return (
        f"load average {load:.1f} on {cores} cores: other jobs share the machine, so the latency table "
        f"measured now prices ops by their contention; measure it on a quiet machine"
    )


class _Static(nn.Module):
    def __init__(self, base: SeatArch) -> None:
        super().__init__()
        self.backbone, self.neck, self.match = build_backbone(base.backbone), Neck(*base.neck), CFM(base)
        self.prediction = Head(base.head_channels, base.head_tower, base.head_groups)

    def forward(self, search, kernel, vec, scale, shift, head_in):  # noqa: ANN001, ANN201
        cache = {"template_kernel": kernel, "template_vec": vec, "film_scale": scale, "film_shift": shift}
        return (self.match(self.neck(self.backbone(search)), cache), *self.prediction(head_in))


def _static_inputs(base: SeatArch) -> tuple[torch.Tensor, ...]:
    n, c, o, r = base.cfm_hidden, base.cfm_channels, base.cfm_out, base.search_feat()
    s = base.search_size
    return (
        torch.rand(1, 3, s, s) * 255,
        torch.randn(1, n, c),
        torch.randn(1, c, 1, 1),
        torch.randn(1, o, 1, 1),
        torch.randn(1, o, 1, 1),
        torch.randn(1, base.head_channels, r, r),
    )


def _timer(module: nn.Module, inputs: tuple[torch.Tensor, ...], backend: str, device: str, threads: int) -> Callable:
    module = module.eval()
    if backend == "torch":
        module = module.to(device)
        inputs = tuple(x.to(device) for x in inputs)
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

        def run() -> None:
            with torch.inference_mode():
                module(*inputs)
            sync()

        return run
    import onnxruntime as ort

    buf = io.BytesIO()
    names = [f"in{i}" for i in range(len(inputs))]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs, buf, dynamo=False, opset_version=17, input_names=names)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feeds = {n: x.numpy() for n, x in zip(names, inputs)}
    return lambda: session.run(None, feeds)


def _median_ms(run: Callable, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def required_entries(base: SeatArch, space: SearchSpace) -> dict[str, Callable[[], tuple[nn.Module, tuple]]]:
    """Every LUT key the supernet needs, with a builder of (module, example inputs)."""
    g = build_graph(space, base.cfm_out, base.head_channels)
    res = base.search_feat()
    entries: dict[str, Callable] = {}

    def op(name: str, c_in: int, c_out: int) -> None:
        entries[op_key(name, c_in, c_out, res)] = lambda: (
            build_op(name, c_in, c_out),
            (torch.randn(1, c_in, res, res),),
        )

    for j in range(1, g.last):
        for i in g.in_edges[j]:
            for name in space.head_ops:
                op(name, g.channels[i], g.channels[j])
        for name in space.stack_ops if space.stack_layers else ():
            op(name, g.channels[j], g.channels[j])
    for i in g.in_edges[g.last]:
        c_in, c_out = g.channels[i], g.channels[g.last]
        entries[collector_key(c_in, c_out, res)] = lambda c_in=c_in, c_out=c_out: (
            Collector(c_in, c_out), (torch.randn(1, c_in, res, res),))  # fmt: skip
    entries[static_key(base)] = lambda: (_Static(base), _static_inputs(base))
    return entries


def measure_lut(
    base: SeatArch,
    space: SearchSpace,
    path: str | Path | None = None,
    backend: str = "onnxruntime",
    device: str = "cpu",
    threads: int = 0,
    repeats: int = 20,
    warmup: int = 3,
    table_name: str | None = None,
) -> dict[str, float]:
    """The table for this search space on this machine: cached entries from ``path`` (for
    the same device signature), the missing ones measured and written back. ``table_name``
    instead uses a table measured elsewhere (e.g. on the deployment device) and measures
    nothing.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown latency backend {backend!r}; expected one of {BACKENDS}")
    signature = table_name or device_signature(backend, device, threads)
    data: dict = {"format": FORMAT, "tables": {}}
    if path is not None and Path(path).is_file():
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a latency table: {err}") from None
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a latency table of format {FORMAT}")
    table: dict[str, float] = data["tables"].setdefault(signature, {})
    todo = {k: build for k, build in required_entries(base, space).items() if k not in table}
    if table_name is not None and todo:
        raise ValueError(f"{path}: table {table_name!r} lacks {len(todo)} entries, e.g. {sorted(todo)[:3]}")
    if todo and backend == "onnxruntime" and device != "cpu":
        raise ValueError("the onnxruntime latency backend measures on the CPU; use --latency-backend torch on GPUs")
    if todo:
        log.info("measuring %d latency entries (%s)", len(todo), signature)
        busy = busy_message(os.getloadavg()[0], os.cpu_count() or 1)
        if busy:
            log.warning("%s", busy)
    torch.manual_seed(0)
    for key, build in todo.items():
        module, inputs = build()
        table[key] = round(_median_ms(_timer(module, inputs, backend, device, threads), repeats, warmup), 4)
        if path is not None:  # keep partial progress of long measurements
            Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return dict(table)
