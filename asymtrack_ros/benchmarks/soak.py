"""Soak: the tracker node for a long run at camera rate, with a new selection every few seconds.

Starts the installed ``tracker_node`` (its log kept in a file), publishes synthetic frames
at ``--fps`` over real DDS (best effort, as a camera does) and alternates box and point
selections on the moving target. It measures what only a long run shows:

- the node's resident memory (RSS) at the start and the end, and its slope;
- every frame the node received is processed or dropped as stale, exactly, from the node's
  own diagnostics counters read once the pipeline is idle after the run;
- latency (the node's ``latency_ms`` and publish -> ``TrackedObject`` end to end), p50 and
  p99 in the first and the last window of the run;
- no error, fatal line or traceback in the node's log, and a clean exit on SIGINT.

It exits 1 when the accounting, the log or the exit fails, 0 otherwise; speed is reported,
never judged.

  python -m asymtrack_ros.benchmarks.soak --minutes 30 [--json soak.json --log soak_node.log]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from ament_index_python.packages import get_package_prefix, get_package_share_directory
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from asymtrack_ros.msg import TargetSelection, TrackedObject

from ..nodes.image_codec import fill_image_msg
from ..nodes.monitor import percentiles
from .node_latency import COUNTERS, Bench, stamp_ns, synthetic_frames

RSS_PERIOD_S = 5.0
START_TIMEOUT_S = 180.0  # only reached if the node never answers
ERROR_LINE = re.compile(r"\[(ERROR|FATAL)\]|Traceback|Segmentation fault|terminate called")
STATE_NAMES = {TrackedObject.IDLE: "idle", TrackedObject.TRACKING: "tracking", TrackedObject.LOST: "lost"}
_LE_STAMP = struct.Struct("<iI")  # header.stamp right after the 4-byte little-endian CDR header


def rss_mib(pid: int) -> float:
    """Resident set size of a process [MiB] (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) samples, in MiB per minute (NaN under 2 samples)."""
    if len(samples) < 2:
        return float("nan")
    t, v = np.array(samples).T
    return float(np.polyfit(t / 60.0, v, 1)[0])


def target_box(i: int, width: int, height: int) -> tuple[float, float, float, float]:
    """Where ``synthetic_frames`` draws the moving box in frame ``i``."""
    x = int(width * 0.3 + 40 * np.sin((i % 60) / 10))
    return float(x), float(height // 2 - 30), 81.0, 61.0


class Soak(Bench):
    """Keeps per-result timings only (not the messages): a long run must not grow here."""

    def __init__(self, namespace: str) -> None:
        self.sent: dict[int, float] = {}  # stamp -> publish time, until its result comes
        self.timings: list[tuple[float, float, float]] = []  # (publish time, node ms, end-to-end ms)
        self.states: Counter[int] = Counter()
        self.last_result = 0  # stamp of the newest result
        super().__init__(namespace, reliable=False, depth=1)

    def _on_tracked(self, msg: TrackedObject) -> None:
        now = time.monotonic()
        stamp = stamp_ns(msg.header.stamp)
        self.last_result = max(self.last_result, stamp)
        self.states[msg.state] += 1
        sent = self.sent.pop(stamp, None)
        if sent is not None:
            self.timings.append((sent, msg.latency_ms, (now - sent) * 1e3))

    def idle_counters(self, node: subprocess.Popen) -> dict[str, str]:
        """Counters once nothing moves: two fresh diagnostics in a row with the same counters."""
        previous: dict[str, str] | None = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            current = self.counters(node)
            if previous is not None and all(current[k] == previous[k] for k in COUNTERS):
                return current
            if time.monotonic() > deadline:
                raise SystemExit("the node's counters never settled")
            previous = current


def frame_messages(frames: list[np.ndarray]) -> list[bytearray]:
    """Serialized once; each publish only patches the stamp (a camera driver's serialization
    is not the node's cost).
    """
    out = []
    for frame in frames:
        msg = fill_image_msg(Image(), frame)
        msg.header.frame_id = "camera"
        data = bytearray(serialize_message(msg))
        if data[:2] != b"\x00\x01":
            raise SystemExit("expected little-endian CDR from serialize_message")
        out.append(data)
    return out


def window_stats(timings: list[tuple[float, float, float]], lo: float, hi: float) -> dict[str, float]:
    sel = [(n, e) for t, n, e in timings if lo <= t < hi]
    n50, n99 = percentiles((n for n, _ in sel), (50, 99))
    e50, e99 = percentiles((e for _, e in sel), (50, 99))
    return {"results": len(sel), "node_p50_ms": n50, "node_p99_ms": n99, "e2e_p50_ms": e50, "e2e_p99_ms": e99}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="length of the timed run")
    p.add_argument("--window-minutes", type=float, default=5.0, help="first/last window for latency (<= half)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--select-every", type=float, default=10.0, help="seconds between selections")
    p.add_argument("--model", default="", help="exported model directory or checkpoint; default: the shipped weights")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--log", type=Path, help="keep the node's log here (default: a temporary file)")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    if not (args.minutes > 0 and args.fps > 0 and args.select_every > 0 and args.window_minutes > 0):
        p.error("--minutes, --window-minutes, --fps and --select-every must be > 0")

    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:  # best-effort 640x480 images need it
        share = Path(get_package_share_directory("asymtrack_ros"))
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(share / "config" / "fastdds_large_images.xml")
    namespace = f"/asymtrack_soak_{os.getpid()}"
    node_args = [
        "--ros-args",
        "-r", f"__ns:={namespace}",
        *(["-p", f"model_path:={args.model}"] if args.model else []),
        "-p", f"threads:={args.threads}",
        "-p", "diagnostics_period_s:=0.5",
    ]  # fmt: skip
    exe = Path(get_package_prefix("asymtrack_ros")) / "lib" / "asymtrack_ros" / "tracker_node"
    log_path = args.log or Path(tempfile.mkstemp(prefix="soak_node_", suffix=".log")[1])
    with open(log_path, "wb") as log:
        node = subprocess.Popen([sys.executable, str(exe), *node_args], stdout=log, stderr=subprocess.STDOUT)
    soak = Soak(namespace)
    try:
        figures = run(soak, node, args)
    finally:
        soak.close()
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
        try:
            code = node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            code = node.wait()
    log_text = log_path.read_text(errors="replace")
    errors = [line for line in log_text.splitlines() if ERROR_LINE.search(line)]
    figures.update(
        node_exit_code=code,
        log=str(log_path),
        log_errors=errors[:20],
        log_warnings=sum("[WARN]" in line for line in log_text.splitlines()),
    )
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = figures["accounting_ok"] and not errors and code == 0
    if not args.log and ok:
        log_path.unlink()
    return 0 if ok else 1


def run(soak: Soak, node: subprocess.Popen, args: argparse.Namespace) -> dict:
    frames = synthetic_frames(args.width, args.height)
    messages = frame_messages(frames)

    def publish(i: int) -> int:
        stamp = 1_000_000_000_000 + round(i * 1e9 / args.fps)
        data = messages[i % len(messages)]
        _LE_STAMP.pack_into(data, 4, *divmod(stamp, 1_000_000_000))
        soak.image_pub.publish(bytes(data))
        return stamp

    def select(i: int, stamp: int, point: bool) -> None:
        x, y, w, h = target_box(i, args.width, args.height)
        msg = TargetSelection(command=TargetSelection.SELECT_POINT if point else TargetSelection.SELECT_BOX)
        msg.x, msg.y = (x + w / 2, y + h / 2) if point else (x, y)
        msg.width, msg.height = (0.0, 0.0) if point else (w, h)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        soak.select_pub.publish(msg)

    soak.spin_until(
        lambda: soak.image_pub.get_subscription_count() > 0 and soak.tracked_sub.get_publisher_count() > 0,
        START_TIMEOUT_S,
        "the tracker node",
        node,
    )
    # Warm-up: frames until the node answers (best effort drops what comes before matching).
    i = 0
    deadline = time.monotonic() + START_TIMEOUT_S
    while soak.last_result == 0:
        publish(i)
        i += 1
        soak.spin_until(lambda t=time.monotonic() + 0.1: time.monotonic() > t, 1, "", node)
        if time.monotonic() > deadline:
            raise SystemExit("the node never answered a frame")

    total = round(args.minutes * 60 * args.fps)
    select_frames = max(1, round(args.select_every * args.fps))
    rss: list[tuple[float, float]] = []
    selections = 0
    start = time.monotonic()
    next_rss = start
    for k in range(total):
        due = start + k / args.fps
        while (now := time.monotonic()) < due:
            soak.executor.spin_once(timeout_sec=min(0.005, due - now))
        stamp = publish(i + k)
        soak.sent[stamp] = time.monotonic()
        if k % select_frames == 0:
            select(i + k, stamp, point=selections % 2 == 1)
            selections += 1
        if time.monotonic() >= next_rss:
            rss.append((time.monotonic() - start, rss_mib(node.pid)))
            next_rss += RSS_PERIOD_S
    duration = time.monotonic() - start
    rss.append((duration, rss_mib(node.pid)))
    diag = soak.idle_counters(node)
    counts = {k: int(diag[k]) for k in COUNTERS}
    published = i + total
    window = min(args.window_minutes * 60, duration / 2)
    timings = [(t - start, n, e) for t, n, e in soak.timings]
    half = [s for s in rss if s[0] >= duration / 2]
    return {
        "minutes": duration / 60,
        "fps": args.fps,
        "size": f"{args.width}x{args.height}",
        "model": diag["model"],
        "engine": f"{diag['engine']} ({diag['provider']})",
        "threads": args.threads,
        "frames_published": published,
        **counts,
        "lost_in_transport": published - counts["frames_received"],
        "accounting_ok": counts["frames_received"] == counts["frames_processed"] + counts["frames_dropped"]
        and counts["inputs_rejected"] == 0,
        "selections_sent": selections,
        "targets_started": int(diag["target_id"]),
        "results": {name: soak.states[v] for v, name in STATE_NAMES.items()},
        "rss_start_mib": rss[0][1],
        "rss_end_mib": rss[-1][1],
        "rss_max_mib": max(v for _, v in rss),
        "rss_slope_mib_per_min": slope_per_min(rss),
        "rss_slope_second_half_mib_per_min": slope_per_min(half),
        "rss_samples": [(round(t, 1), round(v, 2)) for t, v in rss],
        "window_minutes": window / 60,
        "first_window": window_stats(timings, 0.0, window),
        "last_window": window_stats(timings, duration - window, duration + 1.0),
    }


def report(f: dict) -> None:
    print(
        f"tracker_node soak: {f['minutes']:.1f} min at {f['fps']:g} FPS, {f['size']} bgr8 best effort, "
        f"{f['model']} on {f['engine']}, threads {f['threads']}"
    )
    print(
        f"  frames: {f['frames_published']} published, {f['frames_received']} received by the node "
        f"= {f['frames_processed']} processed + {f['frames_dropped']} dropped as stale "
        f"({'exact' if f['accounting_ok'] else 'MISMATCH'}); {f['inputs_rejected']} inputs rejected, "
        f"{f['lost_in_transport']} lost in transport"
    )
    print(f"  selections: {f['selections_sent']} sent, {f['targets_started']} targets started; results {f['results']}")
    print(
        f"  RSS: start {f['rss_start_mib']:.1f} MiB, end {f['rss_end_mib']:.1f} MiB, max {f['rss_max_mib']:.1f} MiB; "
        f"slope {f['rss_slope_mib_per_min']:+.3f} MiB/min (second half {f['rss_slope_second_half_mib_per_min']:+.3f})"
    )
    for name in ("first", "last"):
        w = f[f"{name}_window"]
        print(
            f"  latency, {name} {f['window_minutes']:.1f} min ({w['results']} results): node p50 "
            f"{w['node_p50_ms']:.2f} ms p99 {w['node_p99_ms']:.2f} ms; end to end p50 {w['e2e_p50_ms']:.2f} ms "
            f"p99 {w['e2e_p99_ms']:.2f} ms"
        )
    print(
        f"  log: {len(f['log_errors'])} error lines, {f['log_warnings']} warnings; node exit code "
        f"{f['node_exit_code']} on SIGINT"
    )
    for line in f["log_errors"]:
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
