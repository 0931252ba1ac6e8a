"""`asymtrack bench` end to end on a few frames: every engine row is measured and reported.

Behaviour, not speed: timings on a shared, busy machine are whatever they are, so only
their presence and the consistency of the figures derived from them are checked.
"""

from __future__ import annotations

import math

from asymtrack_ros.benchmarks.engines import format_report, run_bench
from asymtrack_ros.files.resources import default_model_path
from asymtrack_ros.models.checkpoint import load_checkpoint

ENGINES = {"torch eager", "onnxruntime cpu", "onnxruntime cpu int8"}


def _ratio_bounds(num: float, den: float, num_step: float, den_step: float) -> tuple[float, float]:
    """Range of num/den over the values that round to ``num`` and ``den`` (at the given steps)."""
    return (num - num_step / 2) / (den + den_step / 2), (num + num_step / 2) / (den - den_step / 2)


def _within(value: float, bounds: tuple[float, float], step: float) -> bool:
    """``value``, rounded at ``step``, may stand for a number in ``bounds``."""
    return bounds[0] - step / 2 - 1e-9 <= value <= bounds[1] + step / 2 + 1e-9


def test_bench_reports_every_engine() -> None:
    report = run_bench("tiny", frames=5)
    assert report["variant"] == "tiny" and report["frames"] == 5
    shipped = load_checkpoint(default_model_path("asymtrack"))
    assert report["network"].startswith("shipped file")  # the slimmed network users run, not a random one
    assert (", slim " in report["network"]) == bool(shipped.slim)
    assert set(report["engines"]) == ENGINES
    # Counted operations, not timings: the same on every machine.
    assert 0.5 < report["gmacs_search"] < 0.7 and 0.05 < report["gmacs_template"] < 0.15
    assert 3.0 < report["params_m"] < 3.5
    gflops = report["sgemm_gflops"]
    assert math.isfinite(gflops) and gflops > 0
    assert 50 < report["tracker_rss_mb"] < 2000  # memory, not speed
    for name, row in report["engines"].items():
        cached, recompute = row["search_step_ms"], row["template_every_frame_ms"]
        assert all(math.isfinite(v) and v > 0 for v in (cached, recompute)), (name, row)
        # speedup_cached = recompute / cached, from the unrounded timings (rounded to 0.01 ms).
        speedup = _ratio_bounds(recompute, cached, 0.01, 0.01)
        assert _within(row["speedup_cached"], speedup, 0.01), (name, row)
        # sgemm_fraction = 2 * GMACs / cached step [s] / sgemm GFLOP/s (that one as reported).
        fraction = _ratio_bounds(2 * report["gmacs_search"] * 1000 / gflops, cached, 2 * 0.001 * 1000 / gflops, 0.01)
        assert _within(row["sgemm_fraction"], fraction, 0.001), (name, row)
    text = format_report(report)
    for name, row in report["engines"].items():
        assert f"| {name} | {row['search_step_ms']} | {row['template_every_frame_ms']} | " in text
        assert f"| {row['speedup_cached']}x | {row['sgemm_fraction']:.0%} |" in text
    assert f"{report['gmacs_search']} GMACs/frame" in text and "peak RSS (onnxruntime, 640x480): " in text


def test_overhead_parts_lie_within_the_time_outside_the_network() -> None:
    from asymtrack_ros.benchmarks.overhead import format_overhead, run_overhead

    r = run_overhead(frames=8)
    parts = r["parts_ms"]
    assert r["frames"] == 8
    assert {"network", "crop and normalisation", "colour check", "post-processing"} <= set(parts)
    assert all(math.isfinite(v) and v >= 0 for v in parts.values()), parts
    assert parts["network"] > 0 and parts["crop and normalisation"] > 0
    # Medians of per-frame figures: the time outside the network is the frame's rest, so
    # at most the frame, and the parts outside the network are each at most that rest.
    assert 0 < r["outside_network_ms"] < r["frame_ms"]
    assert r["outside_network_share"] == round(r["outside_network_ms"] / r["frame_ms"], 3)
    outside_parts = [v for k, v in parts.items() if k != "network"]
    assert max(outside_parts) <= r["outside_network_ms"] + 0.001
    text = format_overhead(r)
    for name, value in parts.items():
        assert f"| {name} | {value} | " in text
