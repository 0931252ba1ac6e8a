"""The launch files under a real ``ros2 launch``, as an operator runs them from a terminal:
in a process group of their own, stopped by SIGINT to that group (what Ctrl-C does; launch
then forwards a second SIGINT to each node). Defaults, the documented arguments, bad
values, boxes flowing, the simulated mission tracking and following, and a clean Ctrl-C:
exit code 0, every process finished cleanly, no traceback, no SIGTERM escalation.
Behaviour only, never speed: waits are deadlines that only a thing that never happens reaches.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import pytest
import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from conftest import SEQUENCES
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter_client import AsyncParameterClient
from ros_harness import START_S, WAIT_S, Harness, compressed_msg, image_msg, selection, terminal_like

from asymtrack_ros.msg import FollowStatus, TargetSelection, TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

# What a clean launch and a clean Ctrl-C never print.
ALARMS = (
    "Traceback",
    "KeyboardInterrupt",
    "process has died",
    "'SIGTERM'",
    "'SIGKILL'",
    "[ERROR]",
    "Error:",
    "invalid",
    "terminate called",
)


class Launch:
    """``ros2 launch asymtrack_ros FILE ARGS...`` with its output in a log file."""

    def __init__(self, file: str, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        ros2 = shutil.which("ros2")
        assert ros2, "no ros2 command: `make setup` installs ROS 2 launch (docs/launch.md)"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in wait()
        self.proc = subprocess.Popen(
            [ros2, "launch", "asymtrack_ros", file, *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # a group of its own, as a terminal gives a foreground job
            preexec_fn=terminal_like,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group: ros2 launch and every node it started."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = START_S) -> int | None:
        """The exit code, or None when it did not end within ``timeout`` (then it is killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if self.alive():
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._log.close()


def assert_ctrl_c_is_clean(launch: Launch) -> None:
    launch.ctrl_c()
    code = launch.wait(WAIT_S)
    out = launch.output()
    assert code == 0, f"ros2 launch exited with {code} on Ctrl-C:\n{out}"
    alarms = [alarm for alarm in ALARMS if alarm in out]
    assert not alarms, f"{alarms} in the output:\n{out}"
    started = len(re.findall(r"process started with pid", out))
    assert started and len(re.findall(r"process has finished cleanly", out)) == started, out


def wait_for(launch: Launch, harness_executor, cond, what: str, timeout: float = START_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert launch.alive(), f"ros2 launch ended while waiting for {what}:\n{launch.output()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{launch.output()}"
        harness_executor.spin_once(timeout_sec=0.05)


@pytest.fixture(scope="module")
def frames() -> list:
    folder = SEQUENCES / "Crossing" / "img"
    images = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))[:40]]
    assert images and all(im is not None for im in images), f"cannot read frames from {folder}"
    return images


def first_box() -> tuple[float, ...]:
    line = (SEQUENCES / "Crossing" / "groundtruth_rect.txt").read_text().splitlines()[0]
    return tuple(float(v) for v in re.split(r"[,\s]+", line.strip()))


def track(h: Harness, frames: list, make) -> list[TrackedObject]:
    """Select the sequence's target and feed frames until the node tracks; then ten more."""
    h.prime(lambda: make(frames[0]))
    h.select_pub.publish(selection(TargetSelection.SELECT_BOX, *first_box()))
    h.feed_until(frames, make, lambda r: r.state == TrackedObject.TRACKING and r.target_id == 1, "TRACKING")
    return [h.send(make(frame)) for frame in frames[1:11]]


def test_track_with_default_arguments(context, frames, tmp_path: Path) -> None:
    """Defaults: the shipped AsymTrack-T on onnxruntime, raw images on /image, boxes on
    /tracked_object.
    """
    launch = Launch("track.launch.py", [], tmp_path / "launch.log")
    h = Harness(context, "")
    try:
        h.wait_connected()
        boxes = track(h, frames, image_msg)
        assert all(b.state != TrackedObject.IDLE and b.width > 0 and b.height > 0 for b in boxes)
        diag = h.latest_diag(lambda d: True)
        assert (diag["model"], diag["engine"], diag["image_topic"]) == ("asymtrack-tiny", "onnxruntime", "/image")
        assert "tracking with asymtrack-tiny" in launch.output()
    finally:
        h.close()
    assert_ctrl_c_is_clean(launch)


def test_track_with_the_documented_arguments(context, frames, tmp_path: Path) -> None:
    """SEAT on torch, compressed images from a camera in a namespace, the follow controller
    and the browser page beside the tracker, parameters from a params file.
    """
    ns = f"/drone_{os.getpid()}"
    params = tmp_path / "tracker.yaml"
    params.write_text(yaml.safe_dump({"tracker_node": {"ros__parameters": {"diagnostics_period_s": 0.5}}}))
    args = {
        "namespace": ns.strip("/"),
        "camera": f"{ns}/image",
        "image_transport": "compressed",
        "model_family": "seat",
        "engine": "torch",
        "params_file": str(params),
        "use_follow_controller": "true",
        "use_web_ui": "true",
        "web_ui_port": "0",
        "web_ui_token": "tok",
    }
    launch = Launch("track.launch.py", [f"{k}:={v}" for k, v in args.items()], tmp_path / "launch.log")
    h = Harness(context, ns, compressed=True)
    try:
        h.wait_connected()
        boxes = track(h, frames, compressed_msg)
        assert all(b.state != TrackedObject.IDLE and b.width > 0 for b in boxes)
        diag = h.latest_diag(lambda d: True)
        assert diag["model"].startswith("seat-") and diag["engine"] == "torch"
        assert diag["image_topic"] == f"{ns}/image/compressed"
        client = AsyncParameterClient(h.node, f"{ns}/tracker_node")
        future = client.get_parameters(["diagnostics_period_s", "model_family"])
        h.spin_until(future.done, WAIT_S, "the tracker's parameters")
        values = [v.double_value or v.string_value for v in future.result().values]
        assert values == [0.5, "seat"]
        # The controller, in the namespace, with its enable service.
        h.spin_until(
            lambda: (
                h.node.count_subscribers(f"{ns}/tracked_object") >= 2
                and (f"{ns}/follow_controller_node/enable", ["std_srvs/srv/SetBool"])
                in h.node.get_service_names_and_types()
            ),
            START_S,
            "the follow controller",
        )
        # The browser page reads the same tracker.
        port = int(re.search(r"operator page on http://127\.0\.0\.1:(\d+)/", launch.output()).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
        conn.request("GET", "/api/status?token=tok")
        response = conn.getresponse()
        status = json.loads(response.read())
        conn.close()
        assert response.status == 200 and status["tracker"] is not None, status
    finally:
        h.close()
    assert_ctrl_c_is_clean(launch)


@pytest.mark.parametrize(
    "arg, message",
    [
        ("engine:=bogus", "invalid configuration: parameter 'engine'"),
        ("model_family:=bogus", "invalid configuration: parameter 'model_family'"),
        ("params_file:=/nonexistent/tracker.yaml", "parameter file not found: /nonexistent/tracker.yaml"),
        ("model_path:=/nonexistent/model", "cannot load the model /nonexistent/model"),
    ],
)
def test_bad_values_end_the_launch_with_a_clear_message(tmp_path: Path, arg: str, message: str) -> None:
    """Also a model that cannot load: the tracker is essential, the launch ends non-zero."""
    launch = Launch("track.launch.py", [arg], tmp_path / "launch.log")
    code = launch.wait()
    out = launch.output()
    assert code not in (0, None), f"ros2 launch exited with {code}:\n{out}"
    assert message in out and "Traceback" not in out, out


def test_rviz_asked_for_but_missing_stops_before_anything_starts(tmp_path: Path) -> None:
    try:
        get_package_prefix("rviz2")
        pytest.skip("rviz2 is installed here")
    except PackageNotFoundError:
        pass
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    launch = Launch(
        "track.launch.py", ["use_rviz:=true", "namespace:=drone"], tmp_path / "launch.log", {"TMPDIR": str(tmp)}
    )
    code = launch.wait()
    out = launch.output()
    assert code not in (0, None), out
    assert "use_rviz:=true needs the ROS package 'rviz2'" in out, out
    assert "process started" not in out, out
    assert not list(tmp.iterdir()), "the launch left files behind"


class Listener:
    """What the simulated mission publishes in one namespace."""

    def __init__(self, context, ns: str) -> None:
        import rclpy

        self.node = rclpy.create_node("mission_listener", namespace=ns, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.tracked: list[TrackedObject] = []
        self.status: list[FollowStatus] = []
        self.node.create_subscription(TrackedObject, "tracked_object", self.tracked.append, 10)
        self.node.create_subscription(FollowStatus, "follow_status", self.status.append, 10)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def test_sim_mission_tracks_and_follows(context, tmp_path: Path) -> None:
    """The simulator selects the target as soon as the tracker listens (before the tracker's
    first image): the tracker must still track, and the engaged controller follow.
    """
    ns = f"sim_{os.getpid()}"
    args = [f"namespace:={ns}", "engage:=true", "engage_delay_s:=3.0"]
    launch = Launch("sim_follow.launch.py", args, tmp_path / "launch.log")
    mission = Listener(context, f"/{ns}")
    try:
        wait_for(
            launch,
            mission.executor,
            lambda: any(m.state == TrackedObject.TRACKING for m in mission.tracked),
            "the tracker to track the simulator's target",
        )
        wait_for(
            launch,
            mission.executor,
            lambda: any(s.engaged and s.state == FollowStatus.FOLLOWING for s in mission.status),
            "the controller to follow",
        )
    finally:
        mission.close()
    assert "selected the target" in launch.output()
    assert_ctrl_c_is_clean(launch)


def test_sim_mission_without_a_tracker_ends(tmp_path: Path) -> None:
    """A tracker that cannot load its model ends the mission, non-zero: the simulator and
    the controller are stopped instead of running on without it.
    """
    ns = f"sim_bad_{os.getpid()}"
    launch = Launch(
        "sim_follow.launch.py", [f"namespace:={ns}", "model_path:=/nonexistent/model"], tmp_path / "launch.log"
    )
    code = launch.wait()
    out = launch.output()
    assert code not in (0, None), f"ros2 launch exited with {code}:\n{out}"
    assert "cannot load the model /nonexistent/model" in out and "the launch cannot go on without it" in out, out
    assert len(re.findall(r"process has finished cleanly", out)) == 2, out  # the simulator and the controller
