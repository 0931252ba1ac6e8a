"""The soak benchmark (a script, run for the figures in docs/robustness.md) in its short
mode: the tracker node over real DDS for a few seconds with selections, every frame it
received accounted for as processed or dropped, and nothing wrong in its log. Its speed
and memory figures are reported by the script, never checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_short_soak_accounts_for_every_frame(tmp_path, tiny_onnx):
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "asymtrack_ros.benchmarks.soak", "--model", str(tiny_onnx), "--threads", "1"]
    cmd += ["--minutes", "0.15", "--window-minutes", "0.05", "--fps", "15", "--width", "320", "--height", "240"]
    cmd += ["--select-every", "2", "--log", str(tmp_path / "node.log"), "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.is_file(), result.stdout + result.stderr
    f = json.loads(out.read_text())
    text = result.stdout
    assert f["frames_published"] > 135, text  # 9 s at 15 FPS after the warm-up frames
    assert 1 <= f["frames_received"] <= f["frames_published"], text
    assert f["frames_processed"] >= 1, text
    assert f["frames_received"] == f["frames_processed"] + f["frames_dropped"], text
    assert f["inputs_rejected"] == 0 and f["accounting_ok"], text
    assert f["selections_sent"] == 5 and 1 <= f["targets_started"] <= 5, text
    assert f["results"]["tracking"] + f["results"]["lost"] >= 1, text
    assert f["log_errors"] == [], text
    assert f["rss_start_mib"] > 0 and f["rss_end_mib"] > 0, text
    for window in ("first_window", "last_window"):
        assert set(f[window]) == {"results", "node_p50_ms", "node_p99_ms", "e2e_p50_ms", "e2e_p99_ms"}, text
    assert "received by the node" in text and "(exact)" in text, text
