"""Helpers for node tests: the installed node executable as a subprocess, and an
in-process rclpy node that feeds it and collects what it publishes. Waits are bounded,
by deadlines that only a thing that never happens reaches: the tests share a busy machine.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import rclpy
import yaml
from ament_index_python.packages import get_package_prefix, get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from asymtrack_ros.msg import TargetSelection, TrackedObject

FRAME_PERIOD_NS = 33_333_333
WAIT_S = 60.0  # for something that must happen: generous, so that load never fails a test
START_S = 120.0  # for a node to start (imports, model loading) on a busy machine
_stamps = itertools.count(1)


def node_executable(name: str = "tracker_node") -> Path:
    return Path(get_package_prefix("asymtrack_ros")) / "lib" / "asymtrack_ros" / name


def params_file(path: Path, namespace: str, overrides: dict[str, Any]) -> Path:
    """The shipped config/tracker.yaml, keyed for a node in ``namespace``, with overrides."""
    shipped = Path(get_package_share_directory("asymtrack_ros")) / "config" / "tracker.yaml"
    params = yaml.safe_load(shipped.read_text())["tracker_node"]["ros__parameters"]
    params.update(overrides)
    path.write_text(yaml.safe_dump({f"{namespace}/tracker_node": {"ros__parameters": params}}))
    return path


def terminal_like() -> None:
    """For a child started in its own session: SIGINT as a terminal's foreground job gets it
    (a job started with `&` by a non-interactive shell inherits it ignored).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class NodeProcess:
    """A node executable with its output in a log file; stopped with SIGINT like Ctrl-C.
    ``own_group``: in a process group of its own, which a signal can be sent to as a whole.
    """

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        name: str = "tracker_node",
        own_group: bool = False,
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(node_executable(name)), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=own_group,
            preexec_fn=terminal_like if own_group else None,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = WAIT_S) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def next_stamp() -> tuple[int, int]:
    """Unique, increasing (sec, nanosec) stamps for test frames."""
    ns = 1_000_000_000_000 + next(_stamps) * FRAME_PERIOD_NS
    return divmod(ns, 1_000_000_000)


def stamp_ns(stamp: Any) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def image_msg(frame: np.ndarray, encoding: str = "bgr8", pad: int = 0) -> Image:
    """A ``sensor_msgs/Image`` of a BGR frame in ``encoding``, rows padded by ``pad`` bytes."""
    conv = {"rgb8": cv2.COLOR_BGR2RGB, "bgra8": cv2.COLOR_BGR2BGRA, "rgba8": cv2.COLOR_BGR2RGBA}
    data = {"bgr8": frame, "mono8": cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)}.get(encoding)
    if data is None:
        data = cv2.cvtColor(frame, conv[encoding])
    h, w = data.shape[:2]
    rows = data.reshape(h, -1)
    if pad:
        rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    sec, nanosec = next_stamp()
    msg = Image(height=h, width=w, encoding=encoding, step=rows.shape[1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = "camera_optical_frame"
    msg.data = np.ascontiguousarray(rows).tobytes()
    return msg


def compressed_msg(frame: np.ndarray, fmt: str = "jpeg") -> CompressedImage:
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", frame)
    assert ok
    sec, nanosec = next_stamp()
    msg = CompressedImage(format=fmt, data=buf.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    return msg


def selection(command: int, x=0.0, y=0.0, w=0.0, h=0.0, normalized=False, stamp: Any = None) -> TargetSelection:
    msg = TargetSelection(command=command, x=float(x), y=float(y), width=float(w), height=float(h))
    msg.normalized = normalized
    if stamp is not None:
        msg.header = Header(stamp=stamp)
    return msg


class Harness:
    """Publishes to and listens to one tracker node (its namespace), in this process."""

    def __init__(self, context: Any, namespace: str, compressed: bool = False) -> None:
        self.namespace = namespace
        self.node = rclpy.create_node("harness", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        image_type, image_topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        self.image_pub = self.node.create_publisher(image_type, image_topic, reliable)
        self.select_pub = self.node.create_publisher(TargetSelection, "select", 10)
        self.click_pub = self.node.create_publisher(Point, "image_mouse_left", 10)
        self.tracked: list[tuple[float, TrackedObject]] = []  # (receipt time, message)
        self.diagnostics: list[dict[str, str]] = []
        self.diag_stamps: list[int] = []  # their header stamps, on the node's clock [ns]
        self.debug: list[Image] = []
        self.node.create_subscription(TrackedObject, "tracked_object", self._on_tracked, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._diag_name = f"{namespace.strip('/')}/tracker_node: tracker".lstrip("/")  # "" or "/": the root

    def _on_tracked(self, msg: TrackedObject) -> None:
        self.tracked.append((time.monotonic(), msg))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self._diag_name:
                self.diagnostics.append({kv.key: kv.value for kv in status.values})
                self.diag_stamps.append(stamp_ns(msg.header.stamp))

    def subscribe_debug(self) -> None:
        self.node.create_subscription(Image, "debug_image", self.debug.append, 1)

    def spin_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
            self.executor.spin_once(timeout_sec=0.01)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)

    def wait_connected(self, timeout: float = START_S) -> None:
        self.spin_until(
            lambda: (
                self.image_pub.get_subscription_count() > 0
                and self.select_pub.get_subscription_count() > 0
                and self.click_pub.get_subscription_count() > 0
                and self.node.count_publishers(f"{self.namespace.rstrip('/')}/tracked_object") > 0
            ),
            timeout,
            "the tracker node's topics",
        )

    def result_for(self, msg: Any) -> TrackedObject | None:
        want = stamp_ns(msg.header.stamp)
        for _, out in reversed(self.tracked):
            if stamp_ns(out.header.stamp) == want:
                return out
        return None

    def prime(self, make_frame: Callable[[], Any], timeout: float = START_S) -> None:
        """Send frames until one comes back: a best-effort reader drops what arrives before
        it has matched the writer, so the first frames after start-up may be lost.
        """
        sent: list[Any] = []
        deadline = time.monotonic() + timeout
        while not any(self.result_for(m) is not None for m in sent):
            assert time.monotonic() < deadline, f"no TrackedObject within {timeout} s of sending frames"
            sent.append(make_frame())
            self.image_pub.publish(sent[-1])
            self.spin_for(0.3)

    def send(self, msg: Any, timeout: float = WAIT_S, expect: bool = True) -> TrackedObject | None:
        """Publish a frame and wait for its TrackedObject (``expect``) or just spin a little."""
        self.image_pub.publish(msg)
        if not expect:
            self.spin_for(0.2)
            return self.result_for(msg)
        self.spin_until(lambda: self.result_for(msg) is not None, timeout, "the frame's TrackedObject")
        return self.result_for(msg)

    def feed_until(self, frames: list[np.ndarray], make: Callable[[np.ndarray], Any], done: Callable, what: str):
        """Send frames (cycling) one at a time until ``done(result)``; returns the results.
        Bounded by time, not by a number of frames: a loaded node may apply a selection late.
        """
        results = []
        deadline = time.monotonic() + WAIT_S
        for frame in itertools.cycle(frames):
            result = self.send(make(frame))
            results.append(result)
            if done(result):
                return results
            if time.monotonic() > deadline:
                states = [r.state for r in results[-20:]]
                raise AssertionError(f"no frame gave {what} within {WAIT_S} s; last states {states}")

    def latest_diag(self, done: Callable[[dict[str, str]], bool], timeout: float = WAIT_S, fresh: bool = False):
        """The newest diagnostics values once ``done`` holds. ``fresh``: counters read after now,
        i.e. from the second message stamped from now on (the node's timer callbacks run one
        after another, so that one read them after the first was stamped); a message merely
        received from now on may have waited in a queue.
        """
        since = self.node.get_clock().now().nanoseconds if fresh else -1
        needed = 2 if fresh else 1

        def ready() -> bool:
            return sum(s >= since for s in self.diag_stamps) >= needed and done(self.diagnostics[-1])

        self.spin_until(ready, timeout, "diagnostics")
        return self.diagnostics[-1]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
