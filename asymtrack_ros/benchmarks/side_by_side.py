"""``asymtrack bench --all``: per-frame latency of SEAT-lt / SEAT-al beside AsymTrack-T/S/B
(AsymTrack-T also as its int8 search graph, the CPU default) and, with ``--peers``, OpenCV's
NanoTrack v2 and VitTrack graphs and LightFC's published W8A8 graphs, through onnxruntime
CPU on this machine, with parameters and MACs.

Models run interleaved (one frame each, in a rotating order) so that all of them see the
same machine state; on a CPU shared with other jobs the absolute figures move, the
ranking much less. Latency does not depend on the weights: random ones unless given, except
AsymTrack-T, which is the shipped network (its slimmed blocks are what users run).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..deploy.export import export_onnx
from ..deploy.quantize import quantize_int8
from ..deploy.seat import example_inputs, export_seat
from ..engines.onnx_engine import OnnxEngine
from ..models.asymtrack_variants import model_spec
from ..models.seat.arch import SeatArch, builtin_arch
from ..models.seat.checkpoint import load_seat_checkpoint
from ..models.seat.net import SeatNet
from ..tracking.lightfc import BACKBONE_FILE, TRACKING_FILE
from .engines import timed_network

MODELS = ("seat-lt", "seat-al", "asymtrack-tiny", "asymtrack-tiny-int8", "asymtrack-small", "asymtrack-base")
# The peers' files, (run every frame, run once per target): per frame NanoTrack runs its
# backbone on the search crop and its head on both features (OpenCV's samples' names);
# VitTrack runs one graph on template and search; LightFC runs its tracking graph on the
# search crop and the template features its backbone computed once.
PEERS = {
    "nanotrack-v2": (("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx"), ()),
    "vittrack": (("vit.onnx",), ()),
    "lightfc-w8a8": ((TRACKING_FILE,), (BACKBONE_FILE,)),
}


def _gmacs(fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2e9


def _prepare(
    name: str, out: Path, checkpoint: str | None, threads: int, arch: SeatArch | None = None
) -> tuple[dict, OnnxEngine, dict, dict]:
    """(figures, engine, template inputs, search inputs) of one model, exported into ``out``;
    ``arch``: the SEAT architecture of a model that is not a published variant.
    """
    family, _, variant = name.partition("-")
    variant, int8, _ = variant.partition("-int8")
    if family == "seat":
        arch = arch or builtin_arch(variant)
        net = load_seat_checkpoint(checkpoint, arch) if checkpoint else SeatNet(arch).eval()
        ex = example_inputs(net.arch)
        t_in, s_in = {k: ex[k] for k in ("template", "template_box")}, {"search": ex["search"]}
    elif family == "asymtrack":
        net, _ = timed_network(variant)
        spec = model_spec(variant)
        gen = torch.Generator().manual_seed(0)
        t_in = {"template": torch.randn(1, 3, spec.template_size, spec.template_size, generator=gen)}
        s_in = {"search": torch.randn(1, 3, spec.search_size, spec.search_size, generator=gen)}
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")
    with torch.inference_mode():
        cache = net.encode_template(*t_in.values())
        search = _gmacs(lambda: net.track(*s_in.values(), cache=cache))
        template = _gmacs(lambda: net.encode_template(*t_in.values()))
    if family == "seat":
        export_seat(net, out)
    else:
        export_onnx(net, model_spec(variant), out, {**t_in, **s_in})
    if int8:
        from ..deploy.calibration import calibration_feeds

        quantize_int8(out, calibration_feeds)
    figures = {
        "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
        "gmacs_search": round(search, 3),
        "gmacs_template": round(template, 3),
    }
    # Five sessions share the cores: spin-waiting threads of one would steal them from the next.
    engine = OnnxEngine(out, providers=["cpu"], threads=threads, spin=False)
    numpy = lambda d: {k: v.numpy() for k, v in d.items()}  # noqa: E731
    return figures, engine, numpy(t_in), numpy(s_in)


def _prepare_peer(name: str, folder: Path, threads: int) -> tuple[dict, Callable[[], object]]:
    """(figures, one frame's step) of a peer from its ONNX files, random inputs."""
    import onnxruntime as ort

    from .onnx_cost import onnx_cost

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    frame_files, template_files = PEERS[name]
    per_frame, once = [folder / f for f in frame_files], [folder / f for f in template_files]
    missing = [str(p) for p in (*per_frame, *once) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: missing {', '.join(missing)}")
    sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in per_frame]
    costs = [onnx_cost(p) for p in per_frame]
    template_costs = [onnx_cost(p) for p in once]
    rng = np.random.default_rng(0)

    def feeds(session) -> dict[str, np.ndarray]:
        return {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}

    inputs = [feeds(sess) for sess in sessions]
    figures = {
        "params_m": round(sum(c["params"] for c in (*costs, *template_costs)) / 1e6, 2),
        "gmacs_search": round(sum(c["gmacs"] for c in costs), 3),
        "gmacs_template": round(sum(c["gmacs"] for c in template_costs), 3) if template_costs else "-",
    }
    return figures, lambda: [sess.run(None, feed) for sess, feed in zip(sessions, inputs)]


def run_table(
    frames: int = 200,
    models: tuple[str, ...] | list[str] | None = None,
    checkpoints=None,
    threads: int = 0,
    peers: Path | None = None,
    seat_archs: dict[str, SeatArch] | None = None,
) -> dict:
    """Median / p90 per-frame search latency (template cached) of each model, of further
    SEAT architectures (``seat_archs``, by name: a searched one beside the published), and
    of the OpenCV peers' graphs in ``peers``; ``threads`` onnxruntime intra-op threads (0:
    its default, one per core).
    """
    seat_archs = seat_archs or {}
    models = list(models or MODELS) + list(seat_archs)
    checkpoints = checkpoints or {}
    report: dict = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "frames": frames,
        "engine": "onnxruntime CPUExecutionProvider",
        "threads": threads or "default",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name in models:
            figures, engine, t_in, s_in = _prepare(
                name, Path(tmp) / name, checkpoints.get(name), threads, seat_archs.get(name)
            )
            cache = engine.encode_template(t_in)
            runs[name] = (lambda e=engine, s=s_in, c=cache: e.track(s, c), [])
            report["models"][name] = figures
        for name in PEERS if peers else ():
            report["models"][name], step = _prepare_peer(name, Path(peers), threads)
            runs[name] = (step, [])
        models = list(runs)
        for _ in range(5):  # warm-up
            for step, _ in runs.values():
                step()
        for i in range(frames):
            order = models[i % len(models) :] + models[: i % len(models)]
            for name in order:
                step, times = runs[name]
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        for name, (_, times) in runs.items():
            ms = 1000 * np.asarray(times)
            report["models"][name].update(
                median_ms=round(float(np.median(ms)), 2),
                p90_ms=round(float(np.percentile(ms, 90)), 2),
                fps=round(1000 / float(np.median(ms)), 1),
            )
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return report


def format_table(r: dict) -> str:
    lines = [
        f"per-frame search step, template cached, {r['engine']} ({r['threads']} threads), "
        f"{r['machine']['cores']} cores ({r['machine']['cpu']}), median of {r['frames']} interleaved frames; "
        f"load average {r['load_average_before'][0]} -> {r['load_average_after'][0]} (shared machine)",
        "",
        "| model | params M | GMACs/frame | GMACs template | median ms | p90 ms | FPS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        lines.append(
            f"| {name} | {m['params_m']} | {m['gmacs_search']} | {m['gmacs_template']} | "
            f"{m['median_ms']} | {m['p90_ms']} | {m['fps']} |"
        )
    return "\n".join(lines)
