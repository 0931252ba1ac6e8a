"""Follow controller maths (ROS-free): PID, camera model, gating, state machine, parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asymtrack_ros.control.camera import CameraModel, ray_angles, subtended_range
from asymtrack_ros.control.follow import FollowController, FollowState, Observation
from asymtrack_ros.control.params import ParamError, defaults, load_params
from asymtrack_ros.control.pid import Pid, PidGains, deadband

DT = 0.05
TRACKING, LOST, IDLE = 1, 2, 0


# -- PID ---------------------------------------------------------------------------------
def test_p_step_response_and_saturation() -> None:
    pid = Pid(PidGains(kp=2.0), -1.0, 1.0)
    assert pid.update(0.3, 0.0, DT) == pytest.approx(0.6)
    assert not pid.saturated
    assert pid.update(5.0, 0.0, DT) == 1.0 and pid.saturated
    assert pid.update(-5.0, 0.0, DT) == -1.0 and pid.saturated


def test_integral_removes_steady_error_of_a_drifting_plant() -> None:
    # Plant: x' = u + 0.5 (a constant disturbance, e.g. a target moving away); P alone lags.
    for ki, settles in ((0.0, False), (1.0, True)):
        pid, x = Pid(PidGains(kp=2.0, ki=ki), -5.0, 5.0), 0.0
        for _ in range(400):
            x += (pid.update(1.0, x, DT) + 0.5) * DT
        assert (abs(x - 1.0) < 0.01) is settles, (ki, x)


def test_step_response_of_a_rate_controlled_axis() -> None:
    # A gimbal axis: angle' = rate command (first-order 0.05 s); target at 0.2 rad.
    gains = PidGains(kp=2.5, ki=0.5, kd=0.05)
    pid, angle, rate = Pid(gains, -1.0, 1.0, slew=math.radians(360)), 0.0, 0.0
    trace = []
    for _ in range(int(4.0 / DT)):
        cmd = pid.update(0.2, angle, DT)
        rate += (cmd - rate) * (1 - math.exp(-DT / 0.05))
        angle += rate * DT
        trace.append(angle)
    trace = np.array(trace)
    assert np.argmax(trace > 0.18) * DT < 1.0  # 90 % rise within 1 s
    assert trace.max() < 0.2 * 1.10  # overshoot < 10 %
    assert np.all(np.abs(trace[int(3.5 / DT) :] - 0.2) < 0.01)  # within 5 % after 3.5 s


def test_anti_windup_leaves_saturation_at_once() -> None:
    gains = PidGains(kp=1.0, ki=2.0)
    pid = Pid(gains, -1.0, 1.0)
    for _ in range(200):  # 10 s pinned at the limit by a large error
        pid.update(10.0, 0.0, DT)
    assert pid.integral <= 1.0 + 1e-9  # frozen while saturated, not wound up to ~200
    out = pid.update(-0.5, 0.0, DT)  # error reverses: output leaves the limit right away
    assert out < 1.0 and not pid.saturated


def test_integral_limit() -> None:
    pid = Pid(PidGains(kp=0.0, ki=10.0, i_limit=0.3), -5.0, 5.0)
    for _ in range(100):
        pid.update(1.0, 0.0, DT)
    assert pid.integral == pytest.approx(0.3)


def test_derivative_on_measurement_no_setpoint_kick() -> None:
    pid = Pid(PidGains(kp=0.0, kd=1.0, d_tau=0.0), -10.0, 10.0)
    pid.update(0.0, 0.0, DT)
    assert pid.update(1.0, 0.0, DT) == 0.0  # set-point step: no derivative kick
    assert pid.update(1.0, 0.1, DT) == pytest.approx(-0.1 / DT)  # measurement moves: damping


def test_derivative_low_pass() -> None:
    raw, filt = Pid(PidGains(kp=0.0, kd=1.0, d_tau=0.0), -99, 99), Pid(PidGains(kp=0.0, kd=1.0, d_tau=0.2), -99, 99)
    for pid in (raw, filt):
        pid.update(0.0, 0.0, DT)
    assert abs(filt.update(0.0, 0.1, DT)) < 0.3 * abs(raw.update(0.0, 0.1, DT))


def test_deadband_is_continuous() -> None:
    assert deadband(0.05, 0.1) == 0.0
    assert deadband(0.1, 0.1) == 0.0
    assert deadband(0.1001, 0.1) == pytest.approx(0.0001)
    assert deadband(-0.3, 0.1) == pytest.approx(-0.2)
    pid = Pid(PidGains(kp=1.0, ki=1.0, deadband=0.1), -1.0, 1.0)
    for _ in range(50):
        assert pid.update(0.05, 0.0, DT) == 0.0  # inside the band: no output, no integration
    assert pid.integral == 0.0


def test_slew_rate_limit_from_zero() -> None:
    pid = Pid(PidGains(kp=10.0), -5.0, 5.0, slew=2.0)
    outs = [pid.update(1.0, 0.0, DT) for _ in range(60)]
    assert np.all(np.diff([0.0, *outs]) <= 2.0 * DT + 1e-9)
    assert outs[-1] == 5.0


# -- camera ------------------------------------------------------------------------------
def test_camera_from_hfov_angles() -> None:
    cam = CameraModel.from_hfov(math.radians(90), 640, 480)
    assert cam.normalized(320, 240) == pytest.approx((0.0, 0.0))  # corner-origin centre of the image
    assert math.atan(cam.normalized(640, 240)[0]) == pytest.approx(math.radians(45), abs=2e-3)


def test_camera_from_camera_info_k_p_and_distortion() -> None:
    k = [500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1]
    p = [400.0, 0, 300.0, 0, 0, 400.0, 200.0, 0, 0, 0, 1, 0]
    d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    raw = CameraModel.from_camera_info(k, p, d, "plumb_bob", 640, 480)
    rect = CameraModel.from_camera_info(k, p, d, "plumb_bob", 640, 480, use_projection=True)
    assert (rect.fx, rect.cx, rect.distortion_model) == (400.0, 300.0, "")
    assert rect.normalized(300.5 + 40, 200.5) == pytest.approx((0.1, 0.0))
    import cv2

    ray = np.array([[[0.3, -0.2, 1.0]]])
    uv, _ = cv2.projectPoints(ray, np.zeros(3), np.zeros(3), np.array(k).reshape(3, 3), np.array(d))
    assert raw.normalized(uv[0, 0, 0] + 0.5, uv[0, 0, 1] + 0.5) == pytest.approx((0.3, -0.2), abs=1e-4)
    with pytest.raises(ValueError):
        CameraModel.from_camera_info([0.0] * 9, [0.0] * 12, [], "", 640, 480)  # uncalibrated


def test_camera_scaled_to_resized_image() -> None:
    cam = CameraModel.from_hfov(math.radians(60), 1280, 720).scaled_to(640, 360)
    assert cam.normalized(320, 180) == pytest.approx((0.0, 0.0))
    assert cam.fx == pytest.approx(640 / 2 / math.tan(math.radians(30)))


def test_ray_angles_with_camera_pitch() -> None:
    assert ray_angles(0.0, 0.0, math.radians(30)) == pytest.approx((0.0, math.radians(30)))
    az, el = ray_angles(0.0, math.tan(math.radians(10)), math.radians(30))
    assert (az, el) == pytest.approx((0.0, math.radians(40)))
    assert subtended_range(2 * math.atan(1.0 / 20.0), 2.0) == pytest.approx(20.0)


# -- controller --------------------------------------------------------------------------
CAM = CameraModel.from_hfov(math.radians(90), 640, 480)  # f = 320 px


def controller(**overrides) -> FollowController:
    values = {
        "mode": "follow",
        "rate_hz": 20.0,
        "standoff.distance_m": 20.0,
        "standoff.elevation_deg": 0.0,
        "standoff.target_height_m": 2.0,
        **overrides,
    }
    ctrl = FollowController(load_params(values))
    ctrl.set_camera(CAM)
    return ctrl


def box_at(u: float, v: float, h: float = 32.0) -> tuple[float, float, float, float]:
    return (u - h / 2, v - h / 2, h, h)


def obs(t: float, box=None, state: int = TRACKING, score: float = 0.9, target_id: int = 1) -> Observation:
    return Observation(t, state, target_id, box or box_at(320, 240), score, 640, 480)


def run(ctrl: FollowController, t: float, o: Observation):
    ctrl.observe(o, t)
    return ctrl.step(t)


def test_disengaged_is_disabled_and_zero() -> None:
    ctrl = controller()
    cmd, st = run(ctrl, 10.0, obs(10.0, box_at(500, 400)))
    assert st.state == FollowState.DISABLED and cmd.is_zero()


def test_signs_of_all_axes() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    # Right of and below the centre, small (far): turn right, tilt down, fly forward.
    cmd, st = run(ctrl, 10.0, obs(10.0, box_at(480, 320, h=16.0)))
    assert st.state == FollowState.FOLLOWING
    assert st.error_x > 0 and st.error_y > 0
    assert cmd.yaw_rate < 0 and cmd.gimbal_pitch_rate > 0 and cmd.vx > 0 and st.distance_error > 0
    # Left, above, big (near): turn left, tilt up, back off.
    ctrl.engage(False, 10.1)
    ctrl.engage(True, 10.1)
    cmd, _ = run(ctrl, 10.1, obs(10.1, box_at(160, 160, h=64.0)))
    assert cmd.yaw_rate > 0 and cmd.gimbal_pitch_rate < 0 and cmd.vx < 0


def test_distance_from_box_height() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    _, st = run(ctrl, 10.0, obs(10.0, box_at(320, 240, h=16.0)))  # 2 m subtending 16 px at f = 320 px
    assert st.distance == pytest.approx(40.0, rel=0.01) and st.distance_error == pytest.approx(20.0, rel=0.02)


def test_vertical_holds_elevation() -> None:
    ctrl = controller(**{"standoff.elevation_deg": 30.0, "camera.pitch_deg": 45.0, "gimbal.enabled": False})
    ctrl.engage(True, 10.0)
    cmd, _ = run(ctrl, 10.0, obs(10.0))  # target at 45 deg below: too high, descend
    assert cmd.vz < 0 and cmd.gimbal_pitch_rate == 0.0


def test_gimbal_mode_moves_only_the_gimbal() -> None:
    ctrl = controller(mode="gimbal")
    ctrl.engage(True, 10.0)
    cmd, _ = run(ctrl, 10.0, obs(10.0, box_at(480, 320)))
    assert cmd.gimbal_yaw_rate < 0 and cmd.gimbal_pitch_rate > 0
    assert (cmd.vx, cmd.vz, cmd.yaw_rate) == (0.0, 0.0, 0.0)


def test_box_height_setpoint_equals_implied_target_height() -> None:
    a = controller(**{"standoff.box_height": 2.0 * 320 / 20.0 / 480, "standoff.target_height_m": 0.0})
    a.engage(True, 10.0)
    _, st = run(a, 10.0, obs(10.0, box_at(320, 240, h=64.0)))
    assert st.distance == pytest.approx(10.0, rel=0.01)


def test_saturation_flags_and_limits() -> None:
    ctrl = controller(**{"vehicle.max_yaw_rate_deg_s": 10.0, "vehicle.max_yaw_accel_deg_s2": 1000.0})
    ctrl.engage(True, 10.0)
    for i in range(10):
        cmd, st = run(ctrl, 10.0 + i * DT, obs(10.0 + i * DT, box_at(630, 240)))
    assert cmd.yaw_rate == pytest.approx(-math.radians(10.0)) and st.saturated["yaw"]


@pytest.mark.parametrize(
    "bad, reason",
    [
        (dict(box=(math.nan, 10.0, 20.0, 20.0)), "non-finite"),
        (dict(box=(10.0, 10.0, math.inf, 20.0)), "non-finite"),
        (dict(score=math.nan), "non-finite"),
        (dict(score=0.1), "min_score"),
        (dict(state=LOST), "lost"),
        (dict(box=(700.0, 10.0, 20.0, 20.0)), "outside"),
        (dict(box=(10.0, 10.0, 0.0, 20.0)), "empty"),
    ],
)
def test_invalid_messages_give_zero(bad: dict, reason: str) -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    cmd, _ = run(ctrl, 10.0, obs(10.0, box_at(500, 400)))
    assert not cmd.is_zero()
    o = obs(10.05, **{"box": box_at(500, 400), **bad})
    assert reason in ctrl.observe(o, 10.05).lower()
    cmd, st = ctrl.step(10.05)
    assert cmd.is_zero() and st.state == FollowState.LOST and reason in st.message.lower()


@pytest.mark.parametrize("stamp, reason", [(8.0, "stale"), (11.0, "future"), (0.0, "no stamp")])
def test_bad_stamps_give_no_motion(stamp: float, reason: str) -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    assert reason in ctrl.observe(obs(stamp, box_at(500, 400)), 10.0)
    cmd, _ = ctrl.step(10.0)
    assert cmd.is_zero()


def test_missing_camera_model_gives_no_motion_unless_hfov() -> None:
    ctrl = controller()
    ctrl.set_camera(None)
    ctrl.engage(True, 10.0)
    assert "camera" in ctrl.observe(obs(10.0, box_at(500, 400)), 10.0)
    assert ctrl.step(10.0)[0].is_zero()
    ctrl = controller(**{"camera.hfov_deg": 90.0})
    ctrl.set_camera(None)
    ctrl.engage(True, 10.0)
    assert not run(ctrl, 10.0, obs(10.0, box_at(500, 400)))[0].is_zero()


def test_watchdog_holds_then_zeroes_after_timeout() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    first, _ = run(ctrl, 10.0, obs(10.0, box_at(500, 400)))
    held, st = ctrl.step(10.2)  # no new message yet: the last command is held
    assert held == first and st.state == FollowState.FOLLOWING
    cmd, st = ctrl.step(10.31)
    assert cmd.is_zero() and st.state == FollowState.LOST


def test_state_machine_lost_search_idle_and_reacquire() -> None:
    ctrl = controller(**{"lost.search_after_s": 1.0, "lost.idle_after_s": 3.0})
    ctrl.engage(True, 10.0)
    assert ctrl.step(10.0)[1].state == FollowState.IDLE  # engaged, nothing yet
    run(ctrl, 10.0, obs(10.0, box_at(100, 240)))  # last seen on the left
    states = {}
    for t in np.arange(10.05, 14.0, 0.05):
        cmd, st = run(ctrl, t, obs(t, state=LOST))
        states.setdefault(st.state, (t, cmd))
    t_lost, c_lost = states[FollowState.LOST]
    t_search, c_search = states[FollowState.SEARCHING]
    t_idle, c_idle = states[FollowState.IDLE]
    assert c_lost.is_zero() and c_idle.is_zero()
    assert c_search.yaw_rate > 0  # towards the left, where the target was
    assert t_search - t_lost == pytest.approx(1.0, abs=0.06) and t_idle - t_lost == pytest.approx(3.0, abs=0.06)
    cmd, st = run(ctrl, 14.0, obs(14.0, box_at(500, 400)))
    assert st.state == FollowState.FOLLOWING and not cmd.is_zero()


def test_tracker_idle_is_idle() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    run(ctrl, 10.0, obs(10.0, box_at(500, 400)))
    cmd, st = run(ctrl, 10.05, obs(10.05, state=IDLE))
    assert cmd.is_zero() and st.state == FollowState.IDLE


def test_size_jump_holds_until_the_box_returns() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    for t in np.arange(10.0, 11.0, 0.05):
        cmd, st = run(ctrl, t, obs(t, box_at(400, 240, h=32.0)))
    assert st.state == FollowState.FOLLOWING and not cmd.is_zero()
    # The box suddenly grows 2.5x and stays (a drift onto the background): hold, however long.
    for t in np.arange(11.0, 14.0, 0.05):
        cmd, st = run(ctrl, t, obs(t, box_at(400, 240, h=80.0)))
        assert cmd.is_zero() and st.state == FollowState.LOST
    assert "jumped x2.5" in st.message
    # Back to the target's size: followed again.
    cmd, st = run(ctrl, 14.0, obs(14.0, box_at(400, 240, h=34.0)))
    assert st.state == FollowState.FOLLOWING and not cmd.is_zero()


def test_size_jump_after_a_creep_rolls_the_average_back() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    for t in np.arange(10.0, 11.0, 0.05):
        run(ctrl, t, obs(t, box_at(400, 240, h=32.0)))
    # The box creeps to 2.5x over 3 s (slow enough to pass, and the average follows), then
    # jumps: refused. The target's own size afterwards must pass again, though it is more
    # than max_size_jump below the average the creep had reached.
    for t in np.arange(11.0, 14.0, 0.05):
        cmd, st = run(ctrl, t, obs(t, box_at(400, 240, h=32.0 * 2.5 ** ((t - 11.0) / 3))))
        assert st.state == FollowState.FOLLOWING
    cmd, st = run(ctrl, 14.0, obs(14.0, box_at(400, 240, h=200.0)))
    assert cmd.is_zero() and st.state == FollowState.LOST
    cmd, st = run(ctrl, 14.05, obs(14.05, box_at(400, 240, h=34.0)))
    assert st.state == FollowState.FOLLOWING and not cmd.is_zero()


def test_smooth_approach_passes_the_size_gate() -> None:
    ctrl = controller()
    ctrl.engage(True, 10.0)
    for t in np.arange(10.0, 13.0, 0.05):  # the box doubles every 2 s: the target comes closer fast
        cmd, st = run(ctrl, t, obs(t, box_at(400, 240, h=32.0 * 2 ** ((t - 10.0) / 2))))
        assert st.state == FollowState.FOLLOWING and not cmd.is_zero()


def test_size_gate_off() -> None:
    ctrl = controller(**{"gate.max_size_jump": 0.0})
    ctrl.engage(True, 10.0)
    run(ctrl, 10.0, obs(10.0, box_at(400, 240, h=32.0)))
    cmd, st = run(ctrl, 10.05, obs(10.05, box_at(400, 240, h=200.0)))
    assert st.state == FollowState.FOLLOWING and not cmd.is_zero()


# -- parameters --------------------------------------------------------------------------
def test_defaults_are_valid_and_shipped_yaml_matches() -> None:
    load_params(defaults())
    from asymtrack_ros.files.resources import config_file, read_node_params

    shipped = read_node_params(config_file("follow_controller.yaml"), "follow_controller_node")
    assert shipped == defaults()
    sim = read_node_params(config_file("sim_follow.yaml"), "follow_controller_node")
    load_params({**shipped, **sim})


@pytest.mark.parametrize(
    "values, name",
    [
        ({"rate_hz": 2.0}, "rate_hz"),
        ({"rate_hz": "fast"}, "rate_hz"),
        ({"mode": "orbit"}, "mode"),
        ({"vehicle.max_forward_speed": -1.0}, "vehicle.max_forward_speed"),
        ({"pid.yaw.kp": math.nan}, "pid.yaw.kp"),
        ({"gimbal.enabled": "yes"}, "gimbal.enabled"),
        ({"input_timeout_s": 0.01}, "input_timeout_s"),
        ({"gimbal.enabled": False}, "gimbal.enabled"),
        ({"pid.yaw.kpp": 1.0}, "pid.yaw.kpp"),
        ({"gate.max_size_jump": 0.5}, "gate.max_size_jump"),
    ],
)
def test_bad_parameters_name_themselves(values: dict, name: str) -> None:
    with pytest.raises(ParamError, match=name.replace(".", r"\.")):
        load_params(values)
