"""Fuzzed inputs (hypothesis) to the running, engaged follow controller over real DDS:
tracked objects with NaN, infinite, negative or huge boxes, unknown states, scores out of
range, image sizes of zero, stamps old, new, zero or in the future; camera_info with
zero, NaN or negative intrinsics; gimbal attitudes of any value. Every command it sends
meanwhile is finite and within its configured limits, and afterwards a good target still
moves it.
"""

from __future__ import annotations

import math
import os

import pytest
from geometry_msgs.msg import Vector3Stamped
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo
from test_follow_nodes import CONTROLLER, Harness, _moving, start_controller

from asymtrack_ros.control.params import load_params
from asymtrack_ros.files.resources import config_file, read_node_params
from asymtrack_ros.msg import TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

NODE_EXAMPLES = 100  # docs/robustness.md lists it
BIG = 2.0**127  # float32 fields: bounds must be exact float32 values
f32 = st.one_of(st.floats(width=32), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, BIG]))


@st.composite
def hostile_inputs(draw, now_ns: int):
    kind = draw(st.sampled_from(["tracked", "tracked", "extreme", "extreme", "camera", "gimbal"]))
    if kind == "extreme":  # valid, at the edges: far off-centre, tiny or image-sized boxes
        msg = TrackedObject(state=TrackedObject.TRACKING, target_id=1, image_width=640, image_height=480)
        msg.width, msg.height = draw(st.floats(1, 640, width=32)), draw(st.floats(1, 480, width=32))
        msg.x, msg.y = draw(st.floats(0, 640, width=32)) - msg.width / 2, draw(st.floats(0, 480, width=32))
        msg.score = draw(st.floats(0.5, 1.0, width=32))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
        return "tracked", msg
    if kind == "camera":
        info = CameraInfo(width=draw(st.integers(0, 5000)), height=draw(st.integers(0, 5000)))
        info.distortion_model = draw(st.sampled_from(["plumb_bob", "", "equidistant", "rational_polynomial"]))
        info.d = [draw(st.floats(width=64)) for _ in range(draw(st.integers(0, 8)))]
        info.k = [draw(st.one_of(st.floats(width=64), st.sampled_from([0.0, 400.0, 320.0]))) for _ in range(9)]
        info.p = [draw(st.one_of(st.floats(width=64), st.sampled_from([0.0, 400.0]))) for _ in range(12)]
        return "camera", info
    if kind == "gimbal":
        msg = Vector3Stamped()
        msg.vector.x, msg.vector.y, msg.vector.z = (draw(st.floats(width=64)) for _ in range(3))
        return "gimbal", msg
    msg = TrackedObject(state=draw(st.integers(0, 255)), target_id=draw(st.integers(0, 2**32 - 1)))
    msg.x, msg.y, msg.width, msg.height, msg.score = (draw(f32) for _ in range(5))
    msg.image_width, msg.image_height = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    stamp = draw(
        st.one_of(
            st.just(0),
            st.integers(-(10**9), 10**9).map(lambda d: max(0, now_ns + d)),
            st.integers(0, 2**62),
        )
    )
    sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.stamp.sec = min(sec, 2**31 - 1)
    return "tracked", msg


GOOD_CAMERA = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5)
GOOD_CAMERA.k = [400.0, 0.0, 319.5, 0.0, 400.0, 239.5, 0.0, 0.0, 1.0]
GOOD_CAMERA.p = [400.0, 0.0, 319.5, 0.0, 0.0, 400.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def engaged(context, tmp_path_factory):
    namespace = f"/fuzz_follow_{os.getpid()}"
    proc = start_controller(tmp_path_factory.mktemp("fuzz_ctl"), namespace, CONTROLLER)
    h = Harness(context, namespace)
    try:
        h.wait_ready(proc)
        h.enable(True)
        yield h, proc
    finally:
        h.close()
        code = proc.stop()
    log = proc.output()
    assert code == 0 and "Traceback" not in log, log


def test_hostile_inputs_never_give_a_command_beyond_the_limits(engaged):
    h, proc = engaged
    p = load_params({**read_node_params(config_file("follow_controller.yaml"), "follow_controller_node"), **CONTROLLER})
    eps = 1e-6
    checked = {"commands": 0, "moving": 0}

    def check_commands() -> None:
        checked["commands"] += len(h.cmds)
        checked["moving"] += sum(t.linear.x != 0 or t.angular.z != 0 for _, t in h.cmds)
        for _, t in h.cmds:
            values = (t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z)
            assert all(math.isfinite(v) for v in values), t
            assert -p.max_backward_speed - eps <= t.linear.x <= p.max_forward_speed + eps, t
            assert -p.max_down_speed - eps <= t.linear.z <= p.max_up_speed + eps, t
            assert abs(t.angular.z) <= p.max_yaw_rate + eps, t
        for _, g in h.gimbal:
            assert all(math.isfinite(v) for v in (g.vector.x, g.vector.y, g.vector.z)), g
            assert abs(g.vector.y) <= p.gimbal_max_rate + eps and abs(g.vector.z) <= p.gimbal_max_rate + eps, g
        h.clear()

    publishers = {
        "tracked": h.tracked_pub,
        "camera": h.info_pub,
        "gimbal": h.node.create_publisher(Vector3Stamped, "gimbal/attitude", 10),
    }

    @settings(max_examples=NODE_EXAMPLES, phases=(Phase.explicit, Phase.generate))
    @given(st.data())
    def send(data):
        now_ns = h.node.get_clock().now().nanoseconds
        if data.draw(st.booleans()):  # a good camera model, or the last fuzzed one stays
            h.info_pub.publish(GOOD_CAMERA)
        for kind, msg in data.draw(st.lists(hostile_inputs(now_ns), min_size=1, max_size=4)):
            publishers[kind].publish(msg)
        h.spin(0.05)
        assert proc.alive(), proc.output()
        check_commands()

    send()
    assert checked["commands"] > 0, checked  # the stream ran while the controller was sending commands
    h.clear()
    h.spin_until(lambda: _moving(h), "a good target to move the vehicle again", box=(440.0, 300.0, 40.0, 40.0))
    check_commands()
