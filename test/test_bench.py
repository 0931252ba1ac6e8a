"""`asymtrack bench` end to end on a few frames: every engine row is measured and reported."""

from __future__ import annotations

from asymtrack_ros.bench import format_report, run_bench


def test_bench_reports_every_engine() -> None:
    report = run_bench("tiny", frames=5)
    assert set(report["engines"]) == {"torch eager", "onnxruntime cpu", "onnxruntime cpu int8"}
    for row in report["engines"].values():
        assert 0 < row["search_step_ms"] < row["template_every_frame_ms"] * 1.5
        assert row["speedup_cached"] > 0 and 0 < row["sgemm_fraction"] < 1
    assert 0.5 < report["gmacs_search"] < 0.7 and report["sgemm_gflops"] > 1
    assert 50 < report["tracker_rss_mb"] < 2000
    text = format_report(report)
    assert "| onnxruntime cpu int8 |" in text and "peak RSS" in text
