"""How much latency the tracker node adds on top of its model.

Starts the installed ``tracker_node`` with the given model, publishes frames at a
modest rate over real DDS while a target is tracked, and measures for each frame the
time from publishing the image to receiving its ``TrackedObject`` (end-to-end). The
node's own per-frame model time comes from its diagnostics; the difference of the
medians is what the node (transport, conversion, scheduling, publishing) adds.

Every frame published in the timed loop is accounted for from the node's diagnostics
counters, read with the pipeline idle before and after the loop: received by the node
(the rest was lost in transport), and of those, results, dropped as stale (a newer frame
arrived before the model was free) and rejected. With ``--qos reliable`` the image queues
on both sides hold the whole loop, so nothing should be lost in transport.

  python -m asymtrack_ros.benchmarks.node_latency --model MODEL [--frames 300 --rate 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from ament_index_python.packages import get_package_prefix, get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from asymtrack_ros.msg import TargetSelection, TrackedObject

from ..nodes.image_codec import fill_image_msg
from ..nodes.monitor import percentiles


def synthetic_frames(width: int, height: int, count: int = 60) -> list[np.ndarray]:
    """Textured background with a box drifting across it."""
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (9, 9), 0)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = int(width * 0.3 + 40 * np.sin(i / 10))
        cv2.rectangle(frame, (x, height // 2 - 30), (x + 80, height // 2 + 30), (30, 30, 200), -1)
        frames.append(frame)
    return frames


def folder_frames(folder: Path, width: int, height: int) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:120]
    if not paths:
        raise SystemExit(f"{folder}: no images")
    return [cv2.resize(cv2.imread(str(p)), (width, height)) for p in paths]


# The node's diagnostics counters the accounting is made of (SessionStats; rejected also counts malformed images).
COUNTERS = ("frames_received", "frames_processed", "frames_dropped", "inputs_rejected")
SETTLE_TIMEOUT_S = 120.0  # only reached if the node never answers: generous for a busy machine
SETTLE_FRAMES = 10  # published first in the timed loop, not in the latency figures
QUIET_S = 2.0  # best effort: no result for this long after the last frame means that frame was lost


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class Bench:
    def __init__(self, namespace: str, reliable: bool, depth: int) -> None:
        self.reliable = reliable
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("latency_bench", namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        self.image_pub = self.node.create_publisher(Image, "image", QoSProfile(depth=depth, reliability=reliability))
        self.select_pub = self.node.create_publisher(TargetSelection, "select", 10)
        self.received: dict[int, tuple[float, TrackedObject]] = {}
        self.diagnostics: list[tuple[int, dict[str, str]]] = []  # (stamp on the node's clock, values)
        self.tracked_sub = self.node.create_subscription(TrackedObject, "tracked_object", self._on_tracked, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._diag_name = f"{namespace.strip('/')}/tracker_node: tracker"

    def _on_tracked(self, msg: TrackedObject) -> None:
        self.received[stamp_ns(msg.header.stamp)] = (time.monotonic(), msg)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self._diag_name:
                self.diagnostics.append((stamp_ns(msg.header.stamp), {kv.key: kv.value for kv in status.values}))

    def settle(self, last: int, node: subprocess.Popen) -> None:
        """Until the node has answered the last frame published: then every earlier frame has
        been processed, dropped or rejected. Best effort may lose that frame: a quiet node
        (no result for QUIET_S) ends the wait too, and the accounting is then as good as that guess.
        """
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        count, quiet_since = len(self.received), time.monotonic()
        while last not in self.received:
            if node.poll() is not None:
                raise SystemExit(f"tracker_node exited with {node.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out after {SETTLE_TIMEOUT_S:g} s waiting for the last TrackedObject")
            if len(self.received) != count:
                count, quiet_since = len(self.received), time.monotonic()
            elif not self.reliable and time.monotonic() - quiet_since > QUIET_S:
                return
            self.executor.spin_once(timeout_sec=0.01)

    def counters(self, node: subprocess.Popen) -> dict[str, str]:
        """Diagnostics read wholly after now: the second message stamped from now on (the node's
        timer callbacks run one after another, so that one read its counters after the first
        was stamped).
        """
        now = self.node.get_clock().now().nanoseconds
        self.spin_until(
            lambda: sum(stamp >= now for stamp, _ in self.diagnostics) >= 2, SETTLE_TIMEOUT_S, "diagnostics", node
        )
        return self.diagnostics[-1][1]

    def spin_until(self, done, timeout: float, what: str, node: subprocess.Popen) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if node.poll() is not None:
                raise SystemExit(f"tracker_node exited with {node.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            self.executor.spin_once(timeout_sec=0.005)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="", help="exported model directory or checkpoint; default: the shipped weights")
    p.add_argument("--engine", default="auto")
    p.add_argument("--providers", default="tensorrt,cuda,cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--qos", choices=("best_effort", "reliable"), default="best_effort", help="image topic reliability")
    p.add_argument(
        "--dds-profile",
        default="auto",
        help="FASTDDS_DEFAULT_PROFILES_FILE for both processes; auto: the environment's, else the package's "
        "config/fastdds_large_images.xml (best-effort 640x480 images need it with Fast DDS); none: no profile",
    )
    p.add_argument("--frames", type=int, default=300, help="timed frames (after 10 that settle the pipeline)")
    p.add_argument("--rate", type=float, default=20.0, help="publishing rate [Hz]")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--images", type=Path, help="image folder to use (resized); default: synthetic frames")
    args = p.parse_args(argv)
    if args.frames < 1 or not args.rate > 0:
        p.error("--frames must be >= 1 and --rate > 0")

    frames = (
        folder_frames(args.images, args.width, args.height)
        if args.images
        else synthetic_frames(args.width, args.height)
    )
    if args.dds_profile == "none":
        os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    elif args.dds_profile != "auto" or "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        profile = args.dds_profile
        if profile == "auto":
            profile = str(Path(get_package_share_directory("asymtrack_ros")) / "config" / "fastdds_large_images.xml")
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = profile  # read when the first node is created
    namespace = f"/asymtrack_latency_bench_{os.getpid()}"
    # Reliable: queues (publisher history, the node's subscription) that hold every frame of the
    # timed loop, so that a busy node falls behind instead of losing frames between the processes.
    depth = args.frames + SETTLE_FRAMES if args.qos == "reliable" else 1
    node_args = [
        "--ros-args",
        "-r", f"__ns:={namespace}",
        *(["-p", f"model_path:={args.model}"] if args.model else []),  # empty: the node's default
        "-p", f"engine:={args.engine}",
        "-p", f"providers:=[{args.providers}]",
        "-p", f"threads:={args.threads}",
        "-p", "diagnostics_period_s:=0.5",
        "-p", f"image_qos_reliability:={args.qos}",
        "-p", f"image_qos_depth:={depth}",
        "--log-level", "warn",
    ]  # fmt: skip
    exe = Path(get_package_prefix("asymtrack_ros")) / "lib" / "asymtrack_ros" / "tracker_node"
    log = tempfile.NamedTemporaryFile(prefix="tracker_node_", suffix=".log", delete=False)
    node = subprocess.Popen([sys.executable, str(exe), *node_args], stdout=log, stderr=subprocess.STDOUT)
    bench = Bench(namespace, args.qos == "reliable", depth)
    try:
        return run(bench, node, frames, args)
    except SystemExit:
        log.flush()
        print(Path(log.name).read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        bench.close()
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
        os.unlink(log.name)


def run(bench: Bench, node: subprocess.Popen, frames: list[np.ndarray], args: argparse.Namespace) -> int:
    def stamp_of(i: int) -> int:
        return 1_000_000_000_000 + i * 33_333_333

    def message(i: int) -> tuple[int, bytes]:
        """Serialized beforehand: a camera driver's own serialization is not the node's latency."""
        msg = fill_image_msg(Image(), frames[i % len(frames)])
        stamp = stamp_of(i)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        msg.header.frame_id = "camera"
        return stamp, serialize_message(msg)

    bench.spin_until(
        lambda: (
            bench.image_pub.get_subscription_count() > 0
            and bench.select_pub.get_subscription_count() > 0
            and bench.tracked_sub.get_publisher_count() > 0
        ),
        120,
        "the tracker node",
        node,
    )
    # Warm up (IDLE), select the drifting box, wait until it is tracked.
    selected = False
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    i = 0
    while not any(m.state == TrackedObject.TRACKING for _, m in bench.received.values()):
        if bench.received and not selected:
            box = TargetSelection(command=TargetSelection.SELECT_BOX, x=args.width * 0.3, y=args.height / 2 - 30.0)
            box.width, box.height = 80.0, 60.0
            bench.select_pub.publish(box)
            selected = True
        bench.image_pub.publish(message(i)[1])
        i += 1
        bench.spin_until(lambda t=time.monotonic() + 0.1: time.monotonic() > t, 1, "", node)
        if time.monotonic() > deadline:
            raise SystemExit("the node never reported TRACKING")
    bench.settle(stamp_of(i - 1), node)
    before = bench.counters(node)

    timed = [message(i + k) for k in range(args.frames + SETTLE_FRAMES)]
    sent: dict[int, float] = {}
    period = 1.0 / args.rate
    start = time.monotonic()
    for k, (stamp, msg) in enumerate(timed):
        while time.monotonic() < start + k * period:
            bench.executor.spin_once(timeout_sec=min(0.002, max(0.0, start + k * period - time.monotonic())))
        if k >= SETTLE_FRAMES:  # the first ones settle the pipeline: not in the latency figures
            sent[stamp] = time.monotonic()
        bench.image_pub.publish(msg)
    bench.settle(timed[-1][0], node)
    diag = bench.counters(node)
    count = {name: int(diag[name]) - int(before[name]) for name in COUNTERS}

    got = [(bench.received[s][0] - t, bench.received[s][1]) for s, t in sent.items() if s in bench.received]
    e2e = [dt * 1e3 for dt, _ in got]
    node_ms = [m.latency_ms for _, m in got]
    e2e50, e2e90 = percentiles(e2e)
    node50, node90 = percentiles(node_ms)
    eng50, eng90 = float(diag["engine_ms_median"]), float(diag["engine_ms_p90"])
    print(
        f"tracker_node latency at {args.width}x{args.height} bgr8, {args.rate:g} Hz, {args.qos} images, "
        f"{diag['model']} on {diag['engine']} ({diag['provider']})"
    )
    print(f"  DDS profile: {os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE', 'none')}")
    print(
        f"  frames: {len(timed)} published, {count['frames_received']} received by the node, "
        f"{count['frames_processed']} results, {count['frames_dropped']} dropped as stale, "
        f"{count['inputs_rejected']} rejected, {len(timed) - count['frames_received']} lost in transport"
    )
    print(
        f"  latency over the {len(got)} results of the last {len(sent)} frames "
        f"(the first {SETTLE_FRAMES} settle the pipeline)"
    )
    print(f"  end-to-end (publish -> TrackedObject received): median {e2e50:6.2f} ms   p90 {e2e90:6.2f} ms")
    print(f"  node latency_ms (receive -> publish):          median {node50:6.2f} ms   p90 {node90:6.2f} ms")
    print(f"  engine (tracker update, node diagnostics):      median {eng50:6.2f} ms   p90 {eng90:6.2f} ms")
    added50, added90 = e2e50 - eng50, e2e90 - eng90
    print(f"  added by the node (end-to-end - engine):        median {added50:6.2f} ms   p90 {added90:6.2f} ms")
    tr50, tr90 = percentiles(a - b for a, b in zip(e2e, node_ms))
    print(f"    of which DDS transport in + out (per frame):  median {tr50:6.2f} ms   p90 {tr90:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
