"""follow_controller_node over real DDS: engage service, command stream, watchdog, LOST,
disengage, and inputs that must never move the vehicle (NaN/inf, bad stamps, no camera).

The node runs as a subprocess (the installed executable); an in-process node plays the
tracker and the camera, and records the commands.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import rclpy
from follow_harness import NodeProcess, params_file, spin_until
from geometry_msgs.msg import Twist, Vector3Stamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import SetBool

from asymtrack_ros.msg import FollowStatus, TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

RATE_HZ, TIMEOUT_S = 20.0, 0.3
FEED_HZ = 30.0
START_TIMEOUT_S = 30.0
CONTROLLER = {"mode": "follow", "rate_hz": RATE_HZ, "input_timeout_s": TIMEOUT_S, "camera.hfov_deg": 0.0,
              "standoff.distance_m": 20.0, "standoff.target_height_m": 2.0}
RIGHT_LOW = (440.0, 300.0, 40.0, 40.0)  # right of and below the centre of a 640x480 image


def is_zero(t: Twist) -> bool:
    return not any((t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z))


class Harness:
    """Plays tracker and camera for one controller namespace; records what it publishes."""

    def __init__(self, context, namespace: str, camera_info: bool = True) -> None:
        self.node = rclpy.create_node("follow_harness", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.camera_info = camera_info
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.tracked_pub = self.node.create_publisher(TrackedObject, "tracked_object", reliable)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", reliable)
        self.cmds: list[tuple[float, Twist]] = []
        self.gimbal: list[tuple[float, Vector3Stamped]] = []
        self.status: list[tuple[float, FollowStatus]] = []
        self.node.create_subscription(Twist, "cmd_vel", lambda m: self.cmds.append((time.monotonic(), m)), 100)
        self.node.create_subscription(Vector3Stamped, "gimbal/rate_cmd",
                                      lambda m: self.gimbal.append((time.monotonic(), m)), 100)
        self.node.create_subscription(FollowStatus, "follow_status",
                                      lambda m: self.status.append((time.monotonic(), m)), 100)
        self.enable_client = self.node.create_client(SetBool, "follow_controller_node/enable")
        self.last_feed = 0.0  # monotonic time of the last tracked object published
        self.last_stamp = 0.0  # and its stamp [s]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()

    def clear(self) -> None:
        self.cmds.clear()
        self.gimbal.clear()
        self.status.clear()

    def wait_ready(self, proc: NodeProcess) -> None:
        spin_until(self.executor, lambda: not proc.alive() or (
            self.enable_client.service_is_ready() and self.node.count_subscribers("tracked_object") > 0
            and self.node.count_publishers("follow_status") > 0), START_TIMEOUT_S, "the controller to start")
        assert proc.alive(), proc.output()
        self.spin(0.7)  # status messages flow (disengaged status every 0.5 s)
        assert self.status, "no follow_status from the controller"

    def enable(self, on: bool) -> float:
        """Call ~/enable; returns the monotonic time the response arrived."""
        future = self.enable_client.call_async(SetBool.Request(data=on))
        spin_until(self.executor, future.done, 5.0, "the enable service")
        assert future.result().success
        return time.monotonic()

    def spin(self, seconds: float, **feed) -> None:
        """Spin for ``seconds``; with keyword arguments, publish tracked objects at FEED_HZ meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            now = time.monotonic()
            if feed and now - self.last_feed >= 1.0 / FEED_HZ:
                self.publish(**feed)
                self.last_feed = now
            self.executor.spin_once(timeout_sec=0.005)

    def publish(self, box=RIGHT_LOW, state=TrackedObject.TRACKING, score=0.9, stamp_offset=0.0, stamp=None) -> None:
        now_ns = self.node.get_clock().now().nanoseconds
        msg = TrackedObject(state=state, target_id=1, score=float(score), image_width=640, image_height=480)
        msg.x, msg.y, msg.width, msg.height = (float(v) for v in box)
        ns = now_ns + int(stamp_offset * 1e9) if stamp is None else stamp
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        msg.header.frame_id = "camera_optical_frame"
        self.last_stamp = now_ns * 1e-9
        if self.camera_info:
            info = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5)
            info.k = [400.0, 0.0, 319.5, 0.0, 400.0, 239.5, 0.0, 0.0, 1.0]
            info.p = [400.0, 0.0, 319.5, 0.0, 0.0, 400.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
            info.header = msg.header
            self.info_pub.publish(info)
        self.tracked_pub.publish(msg)


def start_controller(tmp: Path, namespace: str, overrides: dict) -> NodeProcess:
    shipped = ("follow_controller.yaml",)
    params = params_file(tmp / "params.yaml", "follow_controller_node", namespace, overrides, shipped)
    return NodeProcess("follow_controller_node", ["--ros-args", "-r", f"__ns:={namespace}", "--params-file",
                                                  str(params)], tmp / "node.log")


@pytest.fixture(scope="module")
def h(context, tmp_path_factory):
    """One controller for most tests; each test leaves it disengaged."""
    namespace = f"/follow_{os.getpid()}"
    proc = start_controller(tmp_path_factory.mktemp("ctl"), namespace, CONTROLLER)
    harness = Harness(context, namespace)
    try:
        harness.wait_ready(proc)
        yield harness
    finally:
        harness.close()
        proc.stop()


@pytest.fixture
def engaged(h):
    h.enable(True)
    h.clear()
    yield h
    h.enable(False)
    h.spin(0.1)


def test_disengaged_publishes_no_commands_then_streams_when_engaged(h) -> None:
    h.clear()
    h.spin(0.5, box=RIGHT_LOW)
    assert not h.cmds and not h.gimbal
    assert h.status and all(s.state == FollowStatus.DISABLED and not s.engaged for _, s in h.status)
    h.enable(True)
    try:
        h.spin(0.3, box=RIGHT_LOW)
        h.clear()
        h.spin(1.0, box=RIGHT_LOW)
        assert 5 <= len(h.cmds) <= 1.5 * RATE_HZ  # a fixed-rate stream (20 Hz here), far above 2 Hz
        _, last = h.cmds[-1]
        assert last.angular.z < 0  # target right: turn right (FLU)
        assert last.linear.x > 0  # 20 m away but low in the image: farther than the 30 deg standoff
        assert h.gimbal[-1][1].vector.y > 0  # target below: tilt down
        s = h.status[-1][1]
        assert s.state == FollowStatus.FOLLOWING and s.engaged and s.error_x > 0 and s.error_y > 0
    finally:
        h.enable(False)


def test_watchdog_zeroes_when_boxes_stop(engaged) -> None:
    h = engaged
    h.spin(0.6, box=RIGHT_LOW)
    assert not is_zero(h.cmds[-1][1])
    t_last = h.last_stamp
    h.spin(0.8)  # nothing published any more
    stamped = [(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, m.vector) for _, m in h.gimbal]
    zero_at = next(t for t, v in stamped if t > t_last and v.y == 0.0 and v.z == 0.0)
    assert zero_at - t_last <= TIMEOUT_S + 1.0 / RATE_HZ + 0.1  # by the controller's own clock
    after = [v for t, v in stamped if t > zero_at]
    assert len(after) >= 5 and all(v.y == 0.0 and v.z == 0.0 for v in after)  # still streaming, zeros
    assert is_zero(h.cmds[-1][1])
    assert h.status[-1][1].state == FollowStatus.LOST


def test_lost_target_gives_zero_velocity(engaged) -> None:
    h = engaged
    h.spin(0.5, box=RIGHT_LOW)
    assert not is_zero(h.cmds[-1][1])
    t0 = time.monotonic()
    h.spin(0.6, box=RIGHT_LOW, state=TrackedObject.LOST)
    late = [m for t, m in h.cmds if t > t0 + 2.0 / RATE_HZ + 0.05]
    assert late and all(is_zero(m) for m in late)
    assert all(g.vector.y == 0.0 and g.vector.z == 0.0 for t, g in h.gimbal if t > t0 + 2.0 / RATE_HZ + 0.05)
    status = h.status[-1][1]
    assert status.state == FollowStatus.LOST and "lost" in status.message


def test_disengage_sends_zero_at_once_then_stops(h) -> None:
    h.enable(True)
    h.spin(0.6, box=RIGHT_LOW)
    assert not is_zero(h.cmds[-1][1])
    h.clear()
    t_request = time.time()
    h.enable(False)
    t_response = time.time()
    h.spin(0.5)
    # Judged by the stamps of the gimbal commands (published with cmd_vel), not by arrival
    # times, so that a busy machine cannot blur "at once" with "at the next period".
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in h.gimbal]
    zeros = [t for t, (_, m) in zip(stamps, h.gimbal) if m.vector.y == 0.0 and m.vector.z == 0.0]
    assert zeros and t_request <= zeros[0] <= t_response  # sent while handling the call
    assert max(stamps) == zeros[0]  # and nothing after it: the stream stopped
    assert is_zero(h.cmds[-1][1])
    assert h.status[-1][1].state == FollowStatus.DISABLED


@pytest.mark.parametrize(
    "feed, reason",
    [
        (dict(box=(math.nan, 300.0, 40.0, 40.0)), "non-finite"),
        (dict(box=(440.0, 300.0, math.inf, 40.0)), "non-finite"),
        (dict(score=math.inf), "non-finite"),
        (dict(stamp_offset=-1.0), "stale"),
        (dict(stamp_offset=+1.0), "future"),
        (dict(stamp=0), "no stamp"),
    ],
)
def test_invalid_inputs_never_move(engaged, feed: dict, reason: str) -> None:
    h = engaged
    h.spin(0.5, **feed)
    assert len(h.cmds) >= 5 and all(is_zero(m) for _, m in h.cmds)
    assert all(g.vector.y == 0.0 and g.vector.z == 0.0 for _, g in h.gimbal)
    assert reason in h.status[-1][1].message


def test_missing_camera_info_never_moves(context, tmp_path) -> None:
    namespace = f"/follow_nocam_{os.getpid()}"
    proc = start_controller(tmp_path, namespace, CONTROLLER)
    harness = Harness(context, namespace, camera_info=False)
    try:
        harness.wait_ready(proc)
        harness.enable(True)
        harness.spin(0.6, box=RIGHT_LOW)
        assert len(harness.cmds) >= 5 and all(is_zero(m) for _, m in harness.cmds)
        assert "camera" in harness.status[-1][1].message
    finally:
        harness.close()
        proc.stop()


def test_bad_parameter_stops_the_node_with_its_name(tmp_path) -> None:
    proc = start_controller(tmp_path, "/follow_bad", {**CONTROLLER, "rate_hz": 1.0})
    try:
        proc.proc.wait(timeout=START_TIMEOUT_S)
    finally:
        code = proc.stop()
    assert code == 2
    assert "rate_hz" in proc.output() and "Traceback" not in proc.output()
