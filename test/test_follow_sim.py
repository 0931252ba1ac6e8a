"""Simulator core (ROS-free): determinism, camera geometry, dynamics limits, the renderer,
and the in-process closed loop with the ground-truth box (the demo's --oracle path).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from asymtrack_ros.control.follow import Command, FollowController
from asymtrack_ros.sim.demo import controller_params
from asymtrack_ros.sim.dynamics import VehicleLimits, VehicleState, step_vehicle
from asymtrack_ros.sim.loop import run_loop, summarize
from asymtrack_ros.sim.render import CameraSpec
from asymtrack_ros.sim.world import Simulator

SMALL = CameraSpec(320, 240, 70.0)


@pytest.fixture(scope="module")
def sim_vga() -> Simulator:
    return Simulator(camera=CameraSpec(640, 480, 70.0), seed=0)


def test_deterministic_from_seed() -> None:
    a, b, c = (Simulator(camera=SMALL, seed=s) for s in (3, 3, 4))
    cmd = Command(vx=2.0, vz=0.3, yaw_rate=0.2, gimbal_pitch_rate=0.1)
    for sim in (a, b, c):
        for _ in range(10):
            sim.step(cmd, 1 / 30)
    fa, fb, fc = a.render(), b.render(), c.render()
    assert np.array_equal(fa.image, fb.image) and fa.target == fb.target
    assert np.array_equal(fa.state.pos, fb.state.pos)
    assert not np.array_equal(fa.image, fc.image)  # another seed, other textures


def test_target_box_matches_the_pinhole_model(sim_vga: Simulator) -> None:
    f = sim_vga.render()
    x, y, w, h = f.target.box
    cam = sim_vga.camera
    assert abs(x + w / 2 - cam.width / 2) < 2 and abs(y + h / 2 - cam.height / 2) < 2  # starts centred
    target = sim_vga.scenario.actor(sim_vga.scenario.target)
    expected = 2 * math.tan(math.atan(target.height / 2 / f.target.distance)) * cam.f
    assert h == pytest.approx(expected, rel=0.03)
    assert f.target.visible == 1.0 and f.target_tracked


def test_renderer_repeats_its_frame(sim_vga: Simulator) -> None:
    """Rendering only reads the state: the same state gives the same 640x480 BGR frame every
    time. Its speed is printed, not asserted: that is the machine's business.
    """
    first = sim_vga.render()
    assert first.image.shape == (480, 640, 3) and first.image.dtype == np.uint8
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        frame = sim_vga.render()
        times.append(time.perf_counter() - t0)
        assert np.array_equal(frame.image, first.image) and frame.target == first.target
    best, mean = 1.0 / min(times), len(times) / sum(times)
    print(f"renderer: {best:.0f} frames/s at 640x480 (best frame), {mean:.0f} on average")


def test_vehicle_first_order_response_and_limits() -> None:
    lim = VehicleLimits()
    s = VehicleState(np.array([0.0, 0.0, 10.0]), 0.0, np.zeros(3))
    dt = 0.005
    for _ in range(int(lim.velocity_tau / dt)):
        s = step_vehicle(s, Command(vx=1.0), dt, lim)
    assert s.vel[0] == pytest.approx(1 - math.exp(-1), rel=0.02)  # one time constant: 63 %
    for _ in range(2000):
        s = step_vehicle(s, Command(vx=50.0, vz=-50.0, gimbal_pitch_rate=50.0), dt, lim)
    assert np.hypot(*s.vel[:2]) == pytest.approx(lim.max_speed, rel=1e-3)
    assert s.pos[2] == lim.min_altitude  # the ground stops the descent
    assert s.gimbal_pitch == lim.gimbal_pitch_range[1]
    for _ in range(200):
        s = step_vehicle(s, Command(yaw_rate=50.0), dt, lim)
    assert s.yaw_rate == pytest.approx(lim.max_yaw_rate, rel=5e-3)


def test_body_frame_velocity_follows_yaw() -> None:
    s = VehicleState(np.array([0.0, 0.0, 10.0]), math.pi / 2, np.zeros(3))  # facing north
    for _ in range(1000):
        s = step_vehicle(s, Command(vx=1.0, vy=1.0), 0.005, VehicleLimits())
    assert s.vel[:2] == pytest.approx([-1.0, 1.0], abs=1e-3)  # forward = north, left = west


def test_closed_loop_with_ground_truth_meets_the_bars() -> None:
    params = controller_params()
    sim = Simulator(camera=SMALL, seed=0)
    result = run_loop(sim, FollowController(params), duration=sim.scenario.duration, fps=10.0)
    s = summarize(result, params.standoff_distance)
    print(s)
    assert s.centred >= 0.9 and s.standoff >= 0.8
    assert any(x.track_state == 2 for x in result.samples)  # the gantry hid the target for a while


def test_demo_cli_writes_video_plot_and_summary(tmp_path, capsys) -> None:
    from asymtrack_ros.sim.demo import main

    assert main(["--oracle", "--duration", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "target tracked" in out and "centred within 10 %" in out and "standoff within 20 %" in out
    assert (tmp_path / "follow.png").stat().st_size > 10_000
    assert (tmp_path / "follow.mp4").stat().st_size > 10_000


def test_demo_tracker_parameters_come_from_the_tracker_config(tmp_path, capsys) -> None:
    import yaml

    from asymtrack_ros.files.resources import config_file
    from asymtrack_ros.sim.demo import main, tracker_params

    section = yaml.safe_load(config_file("tracker.yaml").read_text())["tracker_node"]["ros__parameters"]
    params = tracker_params()
    assert params.bgr_input and params.corner_prior_sigma == section["corner_prior_sigma"]
    assert params.size_calibration == section["size_calibration"]
    assert tracker_params({"size_calibration": 0}).size_calibration == 0.0
    for bad in ("size_calibration=2", "corner_prior_sigma", "lost_patience=[1"):
        assert main(["--tracker-param", bad, "--duration", "1", "--out", str(tmp_path)]) == 2
        assert "bad tracker parameters" in capsys.readouterr().err
