"""Operator interfaces against the real nodes over DDS: tracker_node fed with a real
sequence by an in-process publisher, web_ui_node, follow_controller_node and
status_marker_node as subprocesses; the page driven in headless Chromium (Playwright,
the distribution's chromium, a fresh profile). Also: rqt_image_view clicks on the debug
image, the selector's clear exit without GUI support, and the API's 4xx answers over
real HTTP (nothing published).

Screenshots of the page go to the pytest tmp dir (printed with -s).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
import rclpy
from conftest import SEQUENCES
from follow_harness import NodeProcess, executable
from follow_harness import params_file as follow_params_file
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import START_S, WAIT_S, image_msg, params_file, stamp_ns
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker

from asymtrack_ros.msg import FollowStatus, TargetSelection, TrackedObject

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

CHROMIUM = os.environ.get("ASYMTRACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "t0k-e2e"
FEED_HZ = 10.0
WAIT_MS = WAIT_S * 1000  # Playwright's unit: waits for what must happen, generous on a busy machine
BOX = (205, 151, 17, 50)  # the pedestrian in Crossing (360x240), pixels
IMAGE_W, IMAGE_H = 360, 240


class Operator:
    """In-process side: feeds camera frames, records selections, tracker output and markers."""

    def __init__(self, context: Any, namespace: str, frames: list) -> None:
        self.node = rclpy.create_node("ui_harness", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "image", reliable)
        self.click_pub = self.node.create_publisher(Point, "debug_image_mouse_left", 10)
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}  # stamp_ns -> monotonic publish time
        self.selections: list[TargetSelection] = []
        self.tracked: list[TrackedObject] = []
        self.markers: list[Marker] = []
        self.node.create_subscription(TargetSelection, "select", self._add(self.selections), 50)
        self.node.create_subscription(TrackedObject, "tracked_object", self._add(self.tracked), 50)
        self.node.create_subscription(Marker, "operator_status_marker", self._add(self.markers), 5)
        self._frames = frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _add(self, target: list):
        def callback(msg: Any) -> None:
            with self.lock:
                target.append(msg)

        return callback

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        i, next_at = 0, time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_at:
                msg = image_msg(self._frames[i % len(self._frames)])
                with self.lock:
                    self.sent[stamp_ns(msg.header.stamp)] = time.monotonic()
                self.image_pub.publish(msg)
                i, next_at = i + 1, next_at + 1.0 / FEED_HZ
            self.executor.spin_once(timeout_sec=0.01)

    def wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture(scope="module")
def system(context, tiny_onnx, tmp_path_factory):
    """tracker, follower, web page and status marker in one namespace, frames flowing."""
    tmp = tmp_path_factory.mktemp("operator_ui")
    ns = f"/asym_ui_{os.getpid()}"
    ros = ["--ros-args", "-r", f"__ns:={ns}"]
    # Thresholds at 0: the fixture model's random scores must not make the page's state flicker.
    tracker_params = params_file(
        tmp / "tracker.yaml",
        ns,
        {
            "model_path": str(tiny_onnx),
            "threads": 1,
            "diagnostics_period_s": 0.5,
            "lost_threshold": 0.0,
            "found_threshold": 0.0,
        },
    )
    follow_params = follow_params_file(
        tmp / "follow.yaml",
        "follow_controller_node",
        ns,
        {"camera.hfov_deg": 60.0},
        shipped=("follow_controller.yaml",),
    )
    procs = {
        "tracker": NodeProcess("tracker_node", [*ros, "--params-file", str(tracker_params)], tmp / "tracker.log"),
        "web": NodeProcess(
            "web_ui_node", [*ros, "-p", "port:=0", "-p", f"token:={TOKEN}", "-p", "stream_fps:=10.0"], tmp / "web.log"
        ),
        "follow": NodeProcess(
            "follow_controller_node", [*ros, "--params-file", str(follow_params)], tmp / "follow.log"
        ),
        "marker": NodeProcess("status_marker_node", ros, tmp / "marker.log"),
    }
    folder = SEQUENCES / "Crossing" / "img"
    frames = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))[:30]]
    assert frames and all(f is not None for f in frames), f"cannot read {folder}"
    op = Operator(context, ns, frames)
    op.start()
    try:
        port = None
        deadline = time.monotonic() + START_S
        while port is None or not op.tracked:
            for name, proc in procs.items():
                assert proc.alive(), f"{name} exited:\n{proc.output()}"
            assert time.monotonic() < deadline, "nodes did not start:\n" + procs["web"].output()
            found = re.search(r"operator page on http://127\.0\.0\.1:(\d+)/", procs["web"].output())
            port = int(found.group(1)) if found else None
            time.sleep(0.2)
        yield op, procs, port, tmp
    finally:
        op.close()
        codes = {name: proc.stop() for name, proc in procs.items()}
        logs = {name: proc.output() for name, proc in procs.items()}
    for name in procs:
        assert codes[name] == 0, f"{name} exited with {codes[name]}:\n{logs[name]}"
        assert "Traceback" not in logs[name], logs[name]


def launch_browser(playwright: Any, profile: Path, **options: Any):
    """The distribution's Chromium with a fresh profile (never a downloaded browser)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `make setup` installs the chromium package"
    options = {"viewport": {"width": 1100, "height": 700}, "device_scale_factor": 1, **options}
    browser = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, **options
    )
    browser.set_default_timeout(WAIT_MS)  # page loads, clicks, taps on a busy machine
    return browser


def text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def test_page_drag_track_follow_stop(system):
    sync_api = pytest.importorskip("playwright.sync_api")
    op, procs, port, tmp = system
    shots = tmp / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p, tmp / "chromium-profile")
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
            assert "token" not in page.url  # taken out of the address bar
            page.wait_for_selector("#video[data-stamp]", timeout=WAIT_MS)
            sync_api.expect(page.locator("#state")).to_have_text("IDLE", timeout=WAIT_MS)
            page.screenshot(path=str(shots / "1_idle.png"))

            # Drag a box over the pedestrian: the frame freezes from press to release.
            rect = page.locator("#video").bounding_box()
            sx, sy = rect["width"] / IMAGE_W, rect["height"] / IMAGE_H
            x0, y0 = rect["x"] + BOX[0] * sx, rect["y"] + BOX[1] * sy
            x1, y1 = x0 + BOX[2] * sx, y0 + BOX[3] * sy
            n_sel = len(op.selections)
            page.mouse.move(x0, y0)
            page.mouse.down()
            pressed_on = page.locator("#video").get_attribute("data-stamp")
            page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
            time.sleep(0.4)  # frames keep arriving meanwhile
            page.mouse.move(x1, y1, steps=3)
            assert page.locator("#video").get_attribute("data-stamp") == pressed_on  # frozen
            page.screenshot(path=str(shots / "2_dragging.png"))
            page.mouse.up()
            op.wait(lambda: len(op.selections) > n_sel, WAIT_S, "the TargetSelection")
            sel = op.selections[-1]
            sec, nanosec = (int(v) for v in pressed_on.split("."))
            assert (sel.header.stamp.sec, sel.header.stamp.nanosec) == (sec, nanosec)
            assert stamp_ns(sel.header.stamp) in op.sent  # a frame the camera sent
            assert sel.command == TargetSelection.SELECT_BOX and sel.normalized
            expected = (BOX[0] / IMAGE_W, BOX[1] / IMAGE_H, BOX[2] / IMAGE_W, BOX[3] / IMAGE_H)
            assert (sel.x, sel.y, sel.width, sel.height) == pytest.approx(expected, abs=0.01)

            sync_api.expect(page.locator("#state")).to_have_text("TRACKING", timeout=WAIT_MS)
            sync_api.expect(page.locator("#fps")).not_to_have_text("\u2013", timeout=WAIT_MS)
            with op.lock:
                tracked = list(op.tracked)
            assert tracked[-1].state == TrackedObject.TRACKING
            assert tracked[-1].target_id == int(text(page, "#target"))
            time.sleep(0.5)  # a few annotated frames with the box
            page.screenshot(path=str(shots / "3_tracking.png"))

            # Follower: engage and disengage through the page (the real controller).
            page.click("#follow")
            sync_api.expect(page.locator("#follow-state")).to_contain_text("(engaged)", timeout=WAIT_MS)
            sync_api.expect(page.locator("#follow")).to_have_text("Disengage follower", timeout=WAIT_MS)
            page.screenshot(path=str(shots / "3_following.png"))
            page.click("#follow")
            sync_api.expect(page.locator("#follow-state")).to_have_text("follower: DISABLED", timeout=WAIT_MS)

            page.click("#stop")
            op.wait(lambda: op.selections[-1].command == TargetSelection.STOP, WAIT_S, "STOP")
            sync_api.expect(page.locator("#state")).to_have_text("IDLE", timeout=WAIT_MS)
            page.screenshot(path=str(shots / "4_stopped.png"))

        finally:
            browser.close()

        # A phone: a finger tap selects a point, with the stamp of the frame on screen.
        phone = launch_browser(
            p,
            tmp / "chromium-phone",
            viewport={"width": 390, "height": 780},
            has_touch=True,
            is_mobile=True,
            device_scale_factor=2,
        )
        try:
            page = phone.new_page()
            page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
            page.wait_for_selector("#video[data-stamp]", timeout=WAIT_MS)
            rect = page.locator("#video").bounding_box()
            sx, sy = rect["width"] / IMAGE_W, rect["height"] / IMAGE_H
            n_sel = len(op.selections)
            on_screen = page.locator("#video").get_attribute("data-stamp")
            page.touchscreen.tap(rect["x"] + (BOX[0] + 8) * sx, rect["y"] + (BOX[1] + 25) * sy)
            op.wait(lambda: len(op.selections) > n_sel, WAIT_S, "the point selection")
            sel = op.selections[-1]
            assert sel.command == TargetSelection.SELECT_POINT and sel.normalized
            assert stamp_ns(sel.header.stamp) >= int(on_screen.replace(".", ""))
            assert stamp_ns(sel.header.stamp) in op.sent
            assert (sel.x, sel.y) == pytest.approx(((BOX[0] + 8) / IMAGE_W, (BOX[1] + 25) / IMAGE_H), abs=0.01)
            sync_api.expect(page.locator("#state")).to_have_text("TRACKING", timeout=WAIT_MS)
            page.screenshot(path=str(shots / "5_phone_tracking.png"))
            page.locator("#stop").tap()
            sync_api.expect(page.locator("#state")).to_have_text("IDLE", timeout=WAIT_MS)
        finally:
            phone.close()
    print(f"\noperator page screenshots: {shots}")


def http_request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_bad_requests_get_4xx_and_publish_nothing(system):
    op, _, port, _ = system
    good = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    box = {"command": "box", "x": 0.5, "y": 0.5, "width": 0.1, "height": 0.1}
    cases = [
        (b"{malformed", good, 400),
        (json.dumps({**box, "x": 1.3}).encode(), good, 422),
        (json.dumps({**box, "width": -0.1}).encode(), good, 422),
        (json.dumps({"command": "launch"}).encode(), good, 400),
        (json.dumps(box).encode(), {"Content-Type": "application/json"}, 401),
        (json.dumps(box).encode(), {**good, "Authorization": "Bearer guess"}, 403),
        (json.dumps(box).encode(), {**good, "Content-Type": "text/plain"}, 415),
    ]
    before = len(op.selections)
    for body, headers, status in cases:
        got, data = http_request(port, "POST", "/api/command", body, headers)
        assert got == status, (body, got, data)
        assert "error" in json.loads(data)
    assert http_request(port, "GET", "/api/status", None, {})[0] == 401
    assert http_request(port, "GET", "/stream.mjpg", None, {"Authorization": "Bearer guess"})[0] == 403
    time.sleep(1.0)
    assert len(op.selections) == before, "a bad request was published"
    status, data = http_request(port, "GET", f"/api/status?token={TOKEN}", None, {})
    assert status == 200 and json.loads(data)["tracker"]["state"] in ("IDLE", "TRACKING", "LOST")


def test_rqt_click_on_debug_image_and_status_marker(system):
    """rqt_image_view on debug_image publishes pixel clicks on debug_image_mouse_left."""
    op, _, _, _ = system
    with op.lock:
        target = op.tracked[-1].target_id
    op.click_pub.publish(Point(x=213.0, y=176.0, z=0.0))
    op.wait(lambda: op.tracked[-1].target_id == target + 1, WAIT_S, "the clicked target")
    op.wait(lambda: bool(op.markers) and "tracker: TRACKING" in op.markers[-1].text, WAIT_S, "the status marker")
    marker = op.markers[-1]
    assert marker.type == Marker.TEXT_VIEW_FACING and marker.header.frame_id == "asymtrack_status"
    assert "follower:" in marker.text
    stop = TargetSelection(command=TargetSelection.STOP)
    pub = op.node.create_publisher(TargetSelection, "select", 10)
    op.wait(lambda: pub.get_subscription_count() > 0, WAIT_S, "the tracker's select subscription")
    pub.publish(stop)
    op.wait(lambda: op.tracked[-1].state == TrackedObject.IDLE, WAIT_S, "IDLE")


def test_selector_exits_clearly_without_gui():
    """No display, or the headless OpenCV wheel (no windows): one clear message, exit code 3."""
    info = cv2.getBuildInformation()
    headless = "NONE" in info.split("GUI:")[1][:40] if "GUI:" in info else True
    cases = [("", "DISPLAY is not set")] + ([(":99", "The function is not implemented")] if headless else [])
    for display, reason in cases:
        result = subprocess.run(
            [sys.executable, str(executable("selector_node"))],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DISPLAY": display, "WAYLAND_DISPLAY": ""},
        )
        assert result.returncode == 3, result.stderr
        assert reason in result.stderr and "GUI support" in result.stderr, result.stderr
        assert "opencv-contrib-python" in result.stderr and "Traceback" not in result.stderr


def test_follow_status_type_is_what_the_page_reads():
    """The page's follower badge names FollowStatus states; keep them in step."""
    from asymtrack_ros.ui.status import FOLLOW_STATES

    names = {getattr(FollowStatus, n): n for n in ("IDLE", "FOLLOWING", "LOST", "SEARCHING", "DISABLED")}
    assert names == FOLLOW_STATES
