"""Every node process ends with exit code 0 and a quiet log on SIGINT and on SIGTERM: once,
or twice as Ctrl-C under ``ros2 launch`` delivers it (the terminal signals the whole
process group, then launch forwards another), in the middle of inference, while frames
stream and another process keeps a core busy. The tracker is started and stopped many
times: a crash on the way out (publishing on a closed context, a native thread running
while the process tears down) shows in some cycles only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from follow_harness import params_file as node_params_file
from ros_harness import START_S, WAIT_S, Harness, NodeProcess, params_file, selection

from asymtrack_ros.msg import TargetSelection, TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

TRACKER_CYCLES = 20
WAYS = ("ctrl-c", "sigterm", "sigint", "sigterm, then sigint")
# What a clean exit never prints: tracebacks, failed publishes, native aborts.
ALARMS = ("Traceback", "Exception", "Error", "invalid", "terminate called", "Fatal Python", "Segmentation")
# The fixture model has random weights: thresholds at 0 keep it TRACKING, i.e. inferring.
RANDOM_MODEL = {"window_influence": 0.0, "size_penalty_k": 0.0, "colour_floor": 0.0}
KEEP_TRACKING = {"lost_threshold": 0.0, "found_threshold": 0.0}


def deliver(proc: subprocess.Popen, way: str, cycle: int) -> None:
    if way == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.005 * (cycle % 5))  # launch forwards its own SIGINT a moment later
        os.kill(proc.pid, signal.SIGINT)
    elif way == "sigint":
        os.kill(proc.pid, signal.SIGINT)
    elif way == "sigterm":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGINT)


def ended_cleanly(node: NodeProcess, what: str) -> str | None:
    """None, or what went wrong (the exit code and the log)."""
    try:
        code = node.wait(WAIT_S)
    except subprocess.TimeoutExpired:
        code = None
    node.stop()  # kills it if it hung; closes the log
    log = node.output()
    if code == 0 and not any(alarm in log for alarm in ALARMS):
        return None
    return f"{what}: exit code {code}\n{log[-3000:]}"


@pytest.fixture(scope="module")
def cpu_load():
    """Another process keeping a core busy, as a second job on a robot's computer would."""
    load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    load.kill()
    load.wait()


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """uav_sim_node streaming 640x480 frames at 30 frames/s in real time; it never selects."""
    tmp = tmp_path_factory.mktemp("camera")
    ns = f"/asym_shutdown_{os.getpid()}"
    sim_params = node_params_file(
        tmp / "sim.yaml", "uav_sim_node", ns, {"publish_clock": False, "select_after_s": -1.0}
    )
    sim = NodeProcess(
        ["--ros-args", "-r", f"__ns:={ns}", "--params-file", str(sim_params)], tmp / "sim.log", name="uav_sim_node"
    )
    yield ns
    code = sim.stop()
    assert code == 0, sim.output()


def test_the_tracker_exits_cleanly_every_time(context, tiny_onnx, camera, cpu_load, tmp_path: Path) -> None:
    params = params_file(
        tmp_path / "tracker.yaml",
        camera,
        {"model_path": str(tiny_onnx), "threads": 1, **RANDOM_MODEL, **KEEP_TRACKING},
    )
    harness = Harness(context, camera)
    failures = []
    try:
        for cycle in range(TRACKER_CYCLES):
            way = WAYS[cycle % len(WAYS)]
            log = tmp_path / f"tracker_{cycle}.log"
            node = NodeProcess(
                ["--ros-args", "-r", f"__ns:={camera}", "--params-file", str(params)], log, own_group=True
            )
            harness.spin_until(
                lambda node=node: not node.alive() or "tracking with" in node.output(), START_S, "the model to load"
            )
            harness.spin_for(0.3)
            harness.tracked.clear()  # results of the previous cycle's node included
            deadline = time.monotonic() + START_S
            # Select until the node tracks: its worker is then running the model on every frame.
            while not any(m.state == TrackedObject.TRACKING for _, m in harness.tracked):
                assert node.alive(), f"cycle {cycle}: the tracker exited:\n{node.output()}"
                assert time.monotonic() < deadline, f"cycle {cycle}: no TRACKING result:\n{node.output()}"
                harness.select_pub.publish(selection(TargetSelection.SELECT_BOX, 0.4, 0.4, 0.2, 0.2, normalized=True))
                harness.spin_for(0.3)
            harness.spin_for(0.03 * (cycle % 7))  # signals at different points of the loop
            deliver(node.proc, way, cycle)
            failure = ended_cleanly(node, f"cycle {cycle} ({way})")
            if failure:
                failures.append(failure)
    finally:
        harness.close()
    assert not failures, f"{len(failures)} of {TRACKER_CYCLES} exits were not clean:\n" + "\n".join(failures)


@pytest.mark.parametrize("name", ["uav_sim_node", "follow_controller_node", "status_marker_node", "web_ui_node"])
def test_the_other_nodes_exit_cleanly(context, camera, cpu_load, tmp_path: Path, name: str) -> None:
    extra = ["-p", "port:=0"] if name == "web_ui_node" else []
    if name == "uav_sim_node":  # a second simulator of its own, beside the camera
        extra = ["-r", "image:=other_image", "-p", "publish_clock:=false", "-p", "select_after_s:=-1.0"]
    harness = Harness(context, camera)
    failures = []
    try:
        for cycle, way in enumerate(WAYS):
            node = NodeProcess(
                ["--ros-args", "-r", f"__ns:={camera}", *extra], tmp_path / f"{cycle}.log", name=name, own_group=True
            )
            harness.spin_until(
                lambda node=node: not node.alive() or (name, camera) in harness.node.get_node_names_and_namespaces(),
                START_S,
                f"{name} to start",
            )
            harness.spin_for(0.5)  # its timers and subscriptions at work
            deliver(node.proc, way, cycle)
            failure = ended_cleanly(node, f"{name}, {way}")
            if failure:
                failures.append(failure)
    finally:
        harness.close()
    assert not failures, "\n".join(failures)
