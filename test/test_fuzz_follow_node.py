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
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo
from test_follow_nodes import CONTROLLER, Harness, _moving, camera_info, start_controller

from asymtrack_ros.control.camera import CameraModel
from asymtrack_ros.control.follow import FollowController, Observation
from asymtrack_ros.control.params import load_params
from asymtrack_ros.files.resources import config_file, read_node_params
from asymtrack_ros.msg import TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

NODE_EXAMPLES = 100  # docs/robustness.md lists them
CAMERA_EXAMPLES = 500
CONTROLLER_EXAMPLES = 300
BIG = 2.0**127  # float32 fields: bounds must be exact float32 values
f32 = st.one_of(st.floats(width=32), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, BIG]))


@st.composite
def camera_infos(draw) -> CameraInfo:
    info = CameraInfo(width=draw(st.integers(0, 5000)), height=draw(st.integers(0, 5000)))
    info.distortion_model = draw(st.sampled_from(["plumb_bob", "", "equidistant", "rational_polynomial", "x"]))
    info.d = [draw(st.floats(-2, 2)) for _ in range(draw(st.integers(0, 14)))]
    info.k = [draw(st.one_of(st.floats(width=64), st.sampled_from([0.0, 400.0, 320.0]))) for _ in range(9)]
    info.p = [draw(st.one_of(st.floats(width=64), st.sampled_from([0.0, 400.0]))) for _ in range(12)]
    return info


@settings(max_examples=CAMERA_EXAMPLES)
@given(camera_infos(), st.booleans(), st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
@example(  # one coefficient: cv2.error out of the controller's tick ended the node
    CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.1], k=[400.0, 0, 320, 0, 400, 240, 0, 0, 1]),
    False,
    100.0,
    100.0,
)
def test_camera_models_are_usable_or_refused(info, projection, u, v):
    try:
        cam = CameraModel.from_camera_info(
            info.k, info.p, info.d, info.distortion_model, info.width, info.height, projection
        )
    except ValueError:
        return
    cam.normalized(u, v)  # must not raise


def params():
    return load_params(
        {**read_node_params(config_file("follow_controller.yaml"), "follow_controller_node"), **CONTROLLER}
    )


def check_limits(p, vx: float, vz: float, yaw_rate: float, gimbal: tuple[float, float]) -> None:
    eps = 1e-6
    assert all(math.isfinite(v) for v in (vx, vz, yaw_rate, *gimbal))
    assert -p.max_backward_speed - eps <= vx <= p.max_forward_speed + eps
    assert -p.max_down_speed - eps <= vz <= p.max_up_speed + eps
    assert abs(yaw_rate) <= p.max_yaw_rate + eps and all(abs(g) <= p.gimbal_max_rate + eps for g in gimbal)


observations = st.builds(
    lambda state, box, score, size, age: ("observe", state, box, score, size, age),
    st.sampled_from([1, 1, 1, 0, 2, 7]),
    st.one_of(
        st.tuples(st.floats(-50, 640), st.floats(-50, 480), st.floats(0.5, 700), st.floats(0.5, 500)),
        st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 4),
    ),
    st.one_of(st.floats(0.5, 1.0), st.floats(allow_nan=True)),
    st.one_of(st.just((640, 480)), st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))),
    st.one_of(st.just(0.0), st.floats(-2, 2)),
)
operations = st.lists(
    st.one_of(
        observations,
        observations,
        st.tuples(st.just("camera"), st.one_of(st.none(), camera_infos())),
        st.tuples(st.just("gimbal"), st.floats(allow_nan=True), st.floats(allow_nan=True)),
        st.just(("step",)),
        st.just(("step",)),
    ),
    max_size=25,
)


@settings(max_examples=CONTROLLER_EXAMPLES)
@given(operations)
@example([("observe", 1, (400.0, 200.0, 40.0, 40.0), 0.9, (640, 480), 0.0), ("camera", None), ("step",)])
def test_controller_sequences_never_raise_or_exceed_the_limits(ops):
    """The controller itself, in any order of inputs: a camera_info that leaves no usable
    model between a box and the next tick once failed an assertion in the tick (and ended the
    node).
    """
    p = params()
    ctrl = FollowController(p)
    ctrl.set_camera(CameraModel.from_camera_info(GOOD_CAMERA.k, GOOD_CAMERA.p, GOOD_CAMERA.d, "plumb_bob", 640, 480))
    now = 1000.0
    ctrl.engage(True, now)
    for op in ops:
        now += 0.05
        if op[0] == "observe":
            _, state, box, score, (w, h), age = op
            ctrl.observe(Observation(now - age, state, 1, box, score, w, h), now)
        elif op[0] == "camera":
            info = op[1]
            try:
                cam = (
                    None
                    if info is None
                    else CameraModel.from_camera_info(
                        info.k, info.p, info.d, info.distortion_model, info.width, info.height
                    )
                )
            except ValueError:
                cam = None  # as the node does with an unusable camera_info
            ctrl.set_camera(cam)
        elif op[0] == "gimbal":
            ctrl.set_gimbal_attitude(op[1], op[2], now)
        else:
            c, _ = ctrl.step(now)
            check_limits(p, c.vx, c.vz, c.yaw_rate, (c.gimbal_pitch_rate, c.gimbal_yaw_rate))


@st.composite
def hostile_inputs(draw, now_ns: int):
    kind = draw(st.sampled_from(["tracked", "tracked", "extreme", "extreme", "camera", "gimbal"]))
    if kind == "extreme":  # valid, at the edges: far off-centre, tiny or image-sized boxes
        msg = TrackedObject(state=TrackedObject.TRACKING, target_id=2, image_width=640, image_height=480)
        msg.width, msg.height = draw(st.floats(1, 640, width=32)), draw(st.floats(1, 480, width=32))
        msg.x, msg.y = draw(st.floats(0, 640, width=32)) - msg.width / 2, draw(st.floats(0, 480, width=32))
        msg.score = draw(st.floats(0.5, 1.0, width=32))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
        return "tracked", msg
    if kind == "camera":
        info = draw(camera_infos())
        return "camera", info
    if kind == "gimbal":
        msg = Vector3Stamped()
        msg.vector.x, msg.vector.y, msg.vector.z = (draw(st.floats(width=64)) for _ in range(3))
        return "gimbal", msg
    msg = TrackedObject(state=draw(st.integers(0, 255)), target_id=draw(st.integers(2, 2**32 - 1)))
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


GOOD_CAMERA = camera_info()


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
    p = params()
    checked = {"commands": 0}

    def check_commands() -> None:
        checked["commands"] += len(h.cmds) + len(h.gimbal)
        for _, t in h.cmds:
            check_limits(p, t.linear.x, t.linear.z, t.angular.z, ())
        for _, g in h.gimbal:
            check_limits(p, 0.0, 0.0, 0.0, (g.vector.y, g.vector.z))
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
    try:  # target 1: a new selection after the fuzzed ones (ids >= 2), so the size gate starts afresh
        h.spin_until(lambda: _moving(h), "a good target to move the vehicle again", box=(440.0, 300.0, 40.0, 40.0))
    except AssertionError as err:
        raise AssertionError(f"{err}; the controller says: {[m.message for _, m in h.status[-3:]]}") from None
    check_commands()
