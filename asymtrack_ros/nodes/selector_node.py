"""Desktop selector: an OpenCV window on the annotated stream; drag a box or click a
point to select the target, ``s`` stops, ``f`` toggles the follower, ``q`` quits.

A thin adapter around ``ui.selector_logic``: ROS spins in a background thread, the
window runs in the main thread (cv2.imshow / waitKey never run in a ROS callback).
Needs OpenCV with GUI support; the headless wheel has none and the node says so.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import cv2
import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool

from asymtrack_ros.msg import FollowStatus, TargetSelection

from ..ui.selector_logic import Follow, Quit, Select, SelectorLogic, View, draw_overlay
from .image_codec import decode_compressed, image_loader
from .run import StopRequest, declare_parameters, finish, init

NO_GUI = (
    "selector_node: cannot open a window ({err}). It needs a display and OpenCV with GUI support; "
    "the opencv-*-headless wheels have none: install OpenCV with GUI support (pip install "
    "opencv-contrib-python instead of opencv-contrib-python-headless, or apt install python3-opencv) "
    "and run it on a machine with a display. Without one, use web_ui_node (browser) or rqt_image_view."
)
PARAMETERS = {
    "image_topic": ("debug_image", "image to show: the tracker's debug_image, or a camera topic"),
    "image_transport": ("raw", "raw (sensor_msgs/Image) or compressed (<image_topic>/compressed)"),
    "follow_service": ("follow_controller_node/enable", "std_srvs/SetBool service toggled by 'f'"),
    "window_name": ("asymtrack selector", "title of the window"),
    "max_width": (1280, "frames wider than this are shown scaled down [px]; 0: no limit"),
    "max_height": (720, "frames higher than this are shown scaled down [px]; 0: no limit"),
}
FOLLOW_NAMES = {0: "IDLE", 1: "FOLLOWING", 2: "LOST", 3: "SEARCHING", 4: "DISABLED"}


def check_gui(window: str) -> str | None:
    """None if a window can be opened, else the reason."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: DISPLAY is not set"  # Qt builds abort instead of raising without one
    try:
        cv2.namedWindow(window, cv2.WINDOW_AUTOSIZE)
    except cv2.error as err:
        return str(err).strip().splitlines()[-1]
    return None


class SelectorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("selector_node", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.window, self.max_w, self.max_h = str(p["window_name"]), int(p["max_width"]), int(p["max_height"])
        self._lock = threading.Lock()
        self._latest: tuple[Header, Any] | None = None  # header, loader of the newest frame
        self.follow_text = ""
        self.logic = SelectorLogic()
        if p["image_transport"] == "compressed":
            topic = f"{p['image_topic']}/compressed"
            self.create_subscription(CompressedImage, topic, self._on_compressed, qos_profile_sensor_data)
        else:
            self.create_subscription(Image, p["image_topic"], self._on_image, qos_profile_sensor_data)
        self.create_subscription(FollowStatus, "follow_status", self._on_follow, 10)
        self.select_pub = self.create_publisher(TargetSelection, "select", 10)
        self.follow_client = self.create_client(SetBool, str(p["follow_service"]))

    def _on_image(self, msg: Image) -> None:
        try:
            loader = image_loader(msg)
        except ValueError as err:
            self.get_logger().warning(f"unusable image: {err}", throttle_duration_sec=5.0)
            return
        with self._lock:
            self._latest = (msg.header, loader)

    def _on_compressed(self, msg: CompressedImage) -> None:
        data = msg.data
        with self._lock:
            self._latest = (msg.header, lambda: decode_compressed(data))

    def _on_follow(self, msg: FollowStatus) -> None:
        self.logic.set_follow_engaged(bool(msg.engaged))
        self.follow_text = f"follower: {FOLLOW_NAMES.get(msg.state, msg.state)}" + (" (engaged)" if msg.engaged else "")

    def take_frame(self) -> tuple[Header, np.ndarray] | None:
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is None:
            return None
        try:
            return latest[0], latest[1]()
        except ValueError as err:
            self.get_logger().warning(f"undecodable image: {err}", throttle_duration_sec=5.0)
            return None

    def act(self, action: Any) -> bool:
        """Carry out one action; False to quit."""
        if isinstance(action, Quit):
            return False
        if isinstance(action, Select):
            s = action.selection
            msg = TargetSelection(command=s.command, x=s.x, y=s.y, width=s.width, height=s.height)
            msg.normalized = s.normalized
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(s.stamp_ns, 1_000_000_000)
            self.select_pub.publish(msg)
        elif isinstance(action, Follow):
            self._call_follow(action.enable)
        return True

    def _call_follow(self, enable: bool) -> None:
        if not self.follow_client.service_is_ready():
            self.logic.message = f"no follower service {self.follow_client.srv_name}"
            self.logic.follow_engaged = None
            return
        future = self.follow_client.call_async(SetBool.Request(data=enable))

        def done(f: Any) -> None:
            r = f.result()
            self.logic.message = f"follower: {r.message}" if r is not None else "follower call failed"

        future.add_done_callback(done)


def run_window(node: SelectorNode, stop: StopRequest) -> None:
    """The GUI loop: show the newest frame (unless a drag froze it), handle mouse and keys."""
    shown: np.ndarray | None = None
    actions: list[Any] = []
    cv2.setMouseCallback(node.window, lambda event, x, y, *_: actions.extend(node.logic.on_mouse(event, x, y)))
    while not stop and node.context.ok():
        frame = node.take_frame()
        if frame is not None:
            header, image = frame
            h, w = image.shape[:2]
            view = View.fit(w, h, node.max_w, node.max_h)
            if node.logic.on_frame(header.stamp.sec * 1_000_000_000 + header.stamp.nanosec, view):
                shown = cv2.resize(image, (view.display_w, view.display_h)) if view.scaled else image
        if shown is not None:
            cv2.imshow(node.window, draw_overlay(shown.copy(), node.logic, node.follow_text))
        actions.extend(node.logic.on_key(cv2.waitKey(15)))
        while actions:
            if not node.act(actions.pop(0)):
                return
        if shown is not None and cv2.getWindowProperty(node.window, cv2.WND_PROP_VISIBLE) < 1:
            return  # closed with the window manager


def main(args: list[str] | None = None) -> int:
    stop = init(args)
    try:
        node = SelectorNode()
    except ValueError as err:  # a parameter of the wrong type or range: one line, no traceback
        print(f"selector_node: {err}", file=sys.stderr)
        finish(None)
        return 2
    reason = check_gui(node.window)
    if reason is not None:
        print(NO_GUI.format(err=reason), file=sys.stderr)
        finish(node)
        return 3
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="ros_spin", daemon=True)
    spinner.start()

    def close() -> None:
        cv2.destroyAllWindows()
        executor.shutdown()
        spinner.join()

    try:
        run_window(node, stop)
    finally:
        finish(node, close)
    return 0


if __name__ == "__main__":
    sys.exit(main())
