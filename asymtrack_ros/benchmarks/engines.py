"""``asymtrack bench``: search-step latency on this machine, cached template vs the
template recomputed every frame (the one-stream cost AsymTrack avoids), for torch eager
and onnxruntime CPU (fp32, and the int8 graph of ``export --int8``), beside the machine's
sgemm throughput and the tracker's RSS.

Cached and recomputed steps alternate inside one loop so that both see the same
machine state; figures are medians over ``frames`` iterations.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ..deploy.calibration import calibration_feeds
from ..deploy.export import export_onnx
from ..deploy.quantize import quantize_int8
from ..engines.onnx_engine import OnnxEngine
from ..engines.torch_engine import TorchEngine
from ..files.resources import default_model_path
from ..models.asymtrack import AsymTrack, widths_to_text
from ..models.asymtrack_variants import model_spec
from ..models.checkpoint import load_checkpoint


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _gmacs(fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2e9


def _alternate(cached: Callable[[], object], recompute: Callable[[], object], frames: int) -> tuple[float, float]:
    for _ in range(10):
        cached(), recompute()
    a, b = [], []
    for _ in range(frames):
        a.append(_timed(cached))
        b.append(_timed(recompute))
    return 1000 * float(np.median(a)), 1000 * float(np.median(b))


def tracker_rss_mb(model_dir: str, frames: int = 100) -> float:
    """Peak RSS of a process that only runs the onnxruntime tracker on 640x480 frames."""
    code = (
        "import resource, numpy as np\n"
        "from asymtrack_ros.engines.onnx_engine import OnnxEngine\n"
        "from asymtrack_ros.tracking.asymtrack_tracker import AsymTrackTracker\n"
        f"t = AsymTrackTracker(OnnxEngine({model_dir!r}, providers=['cpu']))\n"
        "rng = np.random.default_rng(0)\n"
        "img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)\n"
        "t.init(img, (300, 200, 60, 80))\n"
        f"for _ in range({frames}): t.update(img)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed_network(variant: str, checkpoint: str | None = None) -> tuple[AsymTrack, str]:
    """The network a bench times, and what it is for the report: the checkpoint given; else
    for AsymTrack-T the shipped one, whose slimmed blocks are what users run; other variants
    with random weights (latency does not depend on them).
    """
    if checkpoint:
        net, source = load_checkpoint(checkpoint, variant), checkpoint
    elif variant == "tiny":
        net, source = load_checkpoint(default_model_path("asymtrack"), variant), "shipped file"
    else:
        net, source = AsymTrack(variant).reparameterize().eval(), "random weights"
    return net, source + (f", slim {widths_to_text(net.slim, net.variant)}" if net.slim else "")


def run_bench(variant: str = "tiny", frames: int = 300, checkpoint: str | None = None) -> dict:
    net, network = timed_network(variant, checkpoint)
    spec = model_spec(variant)
    rng = np.random.default_rng(0)
    template = rng.standard_normal((1, 3, spec.template_size, spec.template_size), dtype=np.float32)
    search = rng.standard_normal((1, 3, spec.search_size, spec.search_size), dtype=np.float32)
    t_in, s_in = {"template": template}, {"search": search}

    with torch.inference_mode():
        tt, ts = torch.from_numpy(template), torch.from_numpy(search)
        cache = net.encode_template(tt)
        search_gmacs = _gmacs(lambda: net.track(ts, cache))
        template_gmacs = _gmacs(lambda: net.encode_template(tt))
    report: dict = {
        "variant": variant,
        "network": network,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "frames": frames,
        "gmacs_search": round(search_gmacs, 3),
        "gmacs_template": round(template_gmacs, 3),
        "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
        "sgemm_gflops": round(sgemm_gflops(), 1),
        "engines": {},
    }
    engines = {"torch eager": TorchEngine(net, spec)}
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as tmp8:
        export_onnx(net, spec, tmp, {"template": torch.from_numpy(template), "search": torch.from_numpy(search)})
        engines["onnxruntime cpu"] = OnnxEngine(tmp, providers=["cpu"])
        shutil.copytree(tmp, tmp8, dirs_exist_ok=True)
        quantize_int8(tmp8, calibration_feeds)
        engines["onnxruntime cpu int8"] = OnnxEngine(tmp8, providers=["cpu"])
        for name, eng in engines.items():
            c = eng.encode_template(t_in)
            cached_ms, recompute_ms = _alternate(
                lambda eng=eng, c=c: eng.track(s_in, c),
                lambda eng=eng: eng.track(s_in, eng.encode_template(t_in)),
                frames,
            )
            report["engines"][name] = {
                "search_step_ms": round(cached_ms, 2),
                "template_every_frame_ms": round(recompute_ms, 2),
                "speedup_cached": round(recompute_ms / cached_ms, 2),
                "sgemm_fraction": round(2 * search_gmacs / (cached_ms / 1000) / report["sgemm_gflops"], 3),
            }
        report["tracker_rss_mb"] = round(tracker_rss_mb(tmp), 1)
    return report


def format_report(r: dict) -> str:
    lines = [
        f"AsymTrack-{r['variant']} ({r['network']}): {r['params_m']} M params, {r['gmacs_search']} GMACs/frame "
        f"(+{r['gmacs_template']} once per template); sgemm {r['sgemm_gflops']} GFLOP/s; "
        f"median of {r['frames']} frames",
        "",
        "| engine | search step ms | template every frame ms | cached speed-up | sgemm fraction |",
        "|---|---|---|---|---|",
    ]
    for name, e in r["engines"].items():
        lines.append(
            f"| {name} | {e['search_step_ms']} | {e['template_every_frame_ms']} | "
            f"{e['speedup_cached']}x | {e['sgemm_fraction']:.0%} |"
        )
    lines.append(f"\ntracker process peak RSS (onnxruntime, 640x480): {r['tracker_rss_mb']} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run_bench(), indent=2))
