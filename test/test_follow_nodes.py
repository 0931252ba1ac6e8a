"""follow_controller_node over real DDS: engage service, command stream, watchdog, LOST,
disengage, and inputs that must never move the vehicle (NaN/inf, bad stamps, no camera).

The node runs as a subprocess (the installed executable); an in-process node plays the
tracker and the camera, and records the commands. Waits run until what is expected has
happened (generous deadlines), never for a fixed time that a busy machine may not honour.
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
from ros_harness import START_S, WAIT_S
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import SetBool

from asymtrack_ros.msg import FollowStatus, TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

RATE_HZ, TIMEOUT_S = 20.0, 0.3
FEED_HZ = 30.0
# Give up (IDLE) only long after any wait here: a test reads LOST however long it waited.
CONTROLLER = {
    "mode": "follow",
    "rate_hz": RATE_HZ,
    "input_timeout_s": TIMEOUT_S,
    "camera.hfov_deg": 0.0,
    "standoff.distance_m": 20.0,
    "standoff.target_height_m": 2.0,
    "lost.idle_after_s": 10 * WAIT_S,
}
RIGHT_LOW = (440.0, 300.0, 40.0, 40.0)  # right of and below the centre of a 640x480 image


def camera_info() -> CameraInfo:
    """A 640x480 pinhole camera, 400 px focal length, no distortion."""
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [400.0, 0.0, 319.5, 0.0, 400.0, 239.5, 0.0, 0.0, 1.0]
    info.p = [400.0, 0.0, 319.5, 0.0, 0.0, 400.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


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
        self.node.create_subscription(
            Vector3Stamped, "gimbal/rate_cmd", lambda m: self.gimbal.append((time.monotonic(), m)), 100
        )
        self.node.create_subscription(
            FollowStatus, "follow_status", lambda m: self.status.append((time.monotonic(), m)), 100
        )
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
        spin_until(
            self.executor,
            lambda: (
                not proc.alive()
                or (
                    self.enable_client.service_is_ready()
                    and self.node.count_subscribers("tracked_object") > 0
                    and self.node.count_publishers("follow_status") > 0
                )
            ),
            START_S,
            "the controller to start",
        )
        assert proc.alive(), proc.output()
        self.spin_until(lambda: bool(self.status), "follow_status from the controller")

    def enable(self, on: bool) -> float:
        """Call ~/enable; returns the monotonic time the response arrived."""
        future = self.enable_client.call_async(SetBool.Request(data=on))
        spin_until(self.executor, future.done, WAIT_S, "the enable service")
        assert future.result().success
        return time.monotonic()

    def disengage(self) -> tuple[float, float]:
        """Call ~/enable false; returns the wall-clock times of request and response, once a
        DISABLED status sent from the request on has arrived.
        """
        t_request = time.time()
        self.enable(False)
        t_response = time.time()
        disabled = FollowStatus.DISABLED
        self.spin_until(
            lambda: any(s.state == disabled and stamp_s(s) >= t_request for _, s in self.status),
            "the disengaged controller's status",
        )
        return t_request, t_response

    def spin(self, seconds: float, **feed) -> None:
        """Spin for ``seconds``; with keyword arguments, publish tracked objects at FEED_HZ meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            now = time.monotonic()
            if feed and now - self.last_feed >= 1.0 / FEED_HZ:
                self.publish(**feed)
                self.last_feed = now
            self.executor.spin_once(timeout_sec=0.005)

    def spin_until(self, cond, what: str, **feed) -> None:
        """Spin (feeding as ``spin`` does) until ``cond()``; fails only if it never holds."""
        deadline = time.monotonic() + WAIT_S
        while not cond():
            assert time.monotonic() < deadline, f"timed out after {WAIT_S} s waiting for {what}"
            self.spin(0.01, **feed)

    def publish(self, box=RIGHT_LOW, state=TrackedObject.TRACKING, score=0.9, stamp_offset=0.0, stamp=None) -> None:
        now_ns = self.node.get_clock().now().nanoseconds
        msg = TrackedObject(state=state, target_id=1, score=float(score), image_width=640, image_height=480)
        msg.x, msg.y, msg.width, msg.height = (float(v) for v in box)
        ns = now_ns + int(stamp_offset * 1e9) if stamp is None else stamp
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        msg.header.frame_id = "camera_optical_frame"
        self.last_stamp = now_ns * 1e-9
        if self.camera_info:
            info = camera_info()
            info.header = msg.header
            self.info_pub.publish(info)
        self.tracked_pub.publish(msg)


def start_controller(tmp: Path, namespace: str, overrides: dict) -> NodeProcess:
    shipped = ("follow_controller.yaml",)
    params = params_file(tmp / "params.yaml", "follow_controller_node", namespace, overrides, shipped)
    return NodeProcess(
        "follow_controller_node",
        ["--ros-args", "-r", f"__ns:={namespace}", "--params-file", str(params)],
        tmp / "node.log",
    )


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
    h.disengage()


def _gimbal_stamped(h) -> list[tuple[float, Vector3Stamped]]:
    """Gimbal commands by their stamps: the controller's clock when it sent them."""
    return [(stamp_s(m), m.vector) for _, m in h.gimbal]


def _moving(h) -> bool:
    return bool(h.cmds and h.gimbal) and not is_zero(h.cmds[-1][1]) and h.gimbal[-1][1].vector.y != 0.0


def _state(h) -> int | None:
    return h.status[-1][1].state if h.status else None


def _message(h) -> str:
    return h.status[-1][1].message if h.status else ""


def _last_cmds_zero(h, n: int = 5) -> bool:
    """The last ``n`` cmd_vel received are zero (Twist has no stamp to tell when it was sent)."""
    return len(h.cmds) >= n and all(is_zero(m) for _, m in h.cmds[-n:])


def test_disengaged_publishes_no_commands_then_streams_when_engaged(h) -> None:
    t0 = time.time()
    # Once a status sent from now on is in, whatever an earlier test left in flight is too.
    h.spin_until(lambda: any(stamp_s(s) >= t0 for _, s in h.status), "a status", box=RIGHT_LOW)
    h.clear()
    h.spin_until(lambda: len(h.status) >= 2, "two disengaged status messages", box=RIGHT_LOW)
    assert not h.cmds and not h.gimbal
    assert all(s.state == FollowStatus.DISABLED and not s.engaged for _, s in h.status)
    h.enable(True)
    try:
        h.clear()
        # A busy machine may delay an input past the 0.3 s watchdog now and then (zeros for a
        # while): wait for following, not for a fixed time. The watchdog test shows that the
        # stream goes on without input, i.e. at the controller's own rate.
        h.spin_until(
            lambda: len(h.cmds) >= 5 and _state(h) == FollowStatus.FOLLOWING and _moving(h),
            "a stream of commands while following",
            box=RIGHT_LOW,
        )
        _, last = h.cmds[-1]
        assert last.angular.z < 0  # target right: turn right (FLU)
        assert last.linear.x > 0  # 20 m away but low in the image: farther than the 30 deg standoff
        assert h.gimbal[-1][1].vector.y > 0  # target below: tilt down
        s = h.status[-1][1]
        assert s.state == FollowStatus.FOLLOWING and s.engaged and s.error_x > 0 and s.error_y > 0
    finally:
        h.disengage()


def test_watchdog_zeroes_when_boxes_stop(engaged) -> None:
    h = engaged
    h.spin_until(lambda: _moving(h), "moving commands", box=RIGHT_LOW)
    expired = h.last_stamp + TIMEOUT_S
    # Nothing published any more. By the controller's own clock, every command sent more than
    # input_timeout_s after the last input's stamp is zero (how long after, is the machine's
    # doing), and the stream goes on.
    h.spin_until(
        lambda: (
            sum(t > expired for t, _ in _gimbal_stamped(h)) >= 5
            and _last_cmds_zero(h)
            and any(stamp_s(s) > expired for _, s in h.status)
        ),
        "the stream after the timeout",
    )
    assert all(v.y == 0.0 and v.z == 0.0 for t, v in _gimbal_stamped(h) if t > expired)
    for status in (s for _, s in h.status if stamp_s(s) > expired):  # the last input may have arrived stale
        assert status.state == FollowStatus.LOST, status
        assert "no tracked_object within input_timeout_s" in status.message or "stale" in status.message, status


def test_lost_target_gives_zero_velocity(engaged) -> None:
    h = engaged
    h.spin_until(lambda: _moving(h), "moving commands", box=RIGHT_LOW)
    lost = dict(box=RIGHT_LOW, state=TrackedObject.LOST)
    reason = "tracker lost the target"
    h.spin_until(lambda: any(reason in s.message for _, s in h.status), "the LOST input taken", **lost)
    # From the first status that names it (stamped as the commands of its period) everything is
    # zero: only LOST inputs follow that one.
    t_lost = min(stamp_s(s) for _, s in h.status if reason in s.message)
    h.spin_until(
        lambda: sum(t > t_lost for t, _ in _gimbal_stamped(h)) >= 5 and _last_cmds_zero(h),
        "commands while lost",
        **lost,
    )
    assert all(v.y == 0.0 and v.z == 0.0 for t, v in _gimbal_stamped(h) if t >= t_lost)
    status = h.status[-1][1]
    assert status.state == FollowStatus.LOST and reason in status.message


def test_disengage_sends_zero_at_once_then_stops(h) -> None:
    h.enable(True)
    h.spin_until(lambda: _moving(h), "moving commands", box=RIGHT_LOW)
    t_request, t_response = h.disengage()
    h.spin_until(lambda: any(stamp_s(m) >= t_request for _, m in h.gimbal), "the zero command")
    h.spin(0.5)  # a stream that went on would show here
    # Judged by the stamps of the gimbal commands (published with cmd_vel), not by arrival
    # times, so that a busy machine cannot blur "at once" with "at the next period": the last
    # command is a zero sent while handling the call, and nothing comes after it.
    t_final, final = max(_gimbal_stamped(h), key=lambda tv: tv[0])
    assert t_request <= t_final <= t_response and final.y == 0.0 and final.z == 0.0
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
    h.spin_until(lambda: len(h.cmds) >= 5 and reason in _message(h), f"{reason} input refused", **feed)
    assert all(is_zero(m) for _, m in h.cmds)
    assert all(g.vector.y == 0.0 and g.vector.z == 0.0 for _, g in h.gimbal)
    assert reason in h.status[-1][1].message


def test_missing_camera_info_never_moves(context, tmp_path) -> None:
    namespace = f"/follow_nocam_{os.getpid()}"
    proc = start_controller(tmp_path, namespace, CONTROLLER)
    harness = Harness(context, namespace, camera_info=False)
    try:
        harness.wait_ready(proc)
        harness.enable(True)
        harness.spin_until(
            lambda: len(harness.cmds) >= 5 and "camera" in _message(harness),
            "input refused for want of a camera",
            box=RIGHT_LOW,
        )
        assert all(is_zero(m) for _, m in harness.cmds)
    finally:
        harness.close()
        proc.stop()


def test_bad_parameter_stops_the_node_with_its_name(tmp_path) -> None:
    proc = start_controller(tmp_path, "/follow_bad", {**CONTROLLER, "rate_hz": 1.0})
    try:
        proc.proc.wait(timeout=START_S)
    finally:
        code = proc.stop()
    assert code == 2
    assert "rate_hz" in proc.output() and "Traceback" not in proc.output()


def run_engage(tmp_path: Path, namespace: str, *params: str) -> NodeProcess:
    args = ["--ros-args", "-r", f"__ns:={namespace}", *(a for p in params for a in ("-p", p))]
    return NodeProcess("follow_engage", args, tmp_path / "engage.log")


def test_follow_engage_engages_then_disengages_and_exits_0(h, tmp_path) -> None:
    for enable, engaged_after in (("true", True), ("false", False)):
        t0 = time.time()
        proc = run_engage(tmp_path, h.node.get_namespace(), f"enable:={enable}")
        try:
            code = proc.wait(timeout=START_S)
        finally:
            proc.stop()
        assert code == 0, proc.output()
        assert ("engaged" if engaged_after else "disengaged") in proc.output()
        h.spin_until(
            lambda t0=t0, want=engaged_after: any(stamp_s(s) >= t0 and s.engaged == want for _, s in h.status),
            f"a status with engaged={engaged_after}",
            box=RIGHT_LOW,
        )


def test_follow_engage_without_a_controller_gives_up_with_1(tmp_path) -> None:
    proc = run_engage(tmp_path, f"/no_controller_{os.getpid()}", "timeout_s:=1.0")
    try:
        code = proc.wait(timeout=START_S)
    finally:
        proc.stop()
    assert code == 1, proc.output()
    assert "follow_controller_node/enable did not come up within 1 s" in proc.output(), proc.output()


def test_follow_engage_stopped_while_waiting_exits_0(tmp_path) -> None:
    """Ctrl-C before the controller answers (as in a launch stopped early): a clean exit."""
    proc = run_engage(tmp_path, f"/no_controller_{os.getpid()}")
    deadline = time.monotonic() + START_S
    while proc.alive() and "once it is up" not in proc.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.alive(), proc.output()
    code = proc.stop()
    assert code == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_follow_engage_bad_parameter_exits_2(tmp_path) -> None:
    proc = run_engage(tmp_path, "/follow_bad", "timeout_s:=soon")
    try:
        code = proc.wait(timeout=START_S)
    finally:
        proc.stop()
    assert code == 2, proc.output()
    assert "timeout_s" in proc.output() and "Traceback" not in proc.output()
