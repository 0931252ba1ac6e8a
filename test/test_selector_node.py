"""selector_node's adapter in-process, with OpenCV's window functions replaced by a script
(no display here): frames in, a scripted drag and keys, TargetSelection and SetBool out.
"""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_harness import START_S, image_msg, stamp_ns
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool

from asymtrack_ros.msg import TargetSelection
from asymtrack_ros.nodes import selector_node
from asymtrack_ros.nodes.stop import StopRequest

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")


class FakeWindow:
    """Stands in for cv2's GUI calls: records what is shown, plays mouse events and keys."""

    def __init__(self, steps: list) -> None:
        self.steps = steps  # ("mouse", event, x, y) | ("key", code) | ("wait", predicate)
        self.shown: list[np.ndarray] = []
        self.callback = None
        self.deadline = time.monotonic() + START_S  # discovery included, on a busy machine

    def wait_key(self, delay: int) -> int:
        time.sleep(delay / 1000)
        assert time.monotonic() < self.deadline, f"script stuck before {self.steps[:1]}"
        while self.steps:
            step = self.steps[0]
            if step[0] == "wait":
                if not step[1]():
                    return -1
            elif step[0] == "mouse":
                self.callback(step[1], step[2], step[3], 0, None)
            else:
                self.steps.pop(0)
                return step[1]
            self.steps.pop(0)
        return -1


def test_selector_node_publishes_selections_and_toggles_the_follower(monkeypatch):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    ns = f"/asym_selector_{os.getpid()}"
    node = selector_node.SelectorNode(
        context=ctx, namespace=ns, parameter_overrides=[rclpy.parameter.Parameter("max_width", value=180)]
    )
    peer = rclpy.create_node("peer", namespace=ns, context=ctx)
    selections: list[TargetSelection] = []
    enables: list[bool] = []
    peer.create_subscription(TargetSelection, "select", selections.append, 10)

    def on_enable(request, response):
        enables.append(request.data)
        response.success, response.message = True, "engaged" if request.data else "disengaged"
        return response

    peer.create_service(SetBool, "follow_controller_node/enable", on_enable)
    image_pub = peer.create_publisher(Image, "debug_image", 1)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(peer)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    frame = np.full((240, 360, 3), 90, np.uint8)
    sent: list[Image] = []
    stop_feed = threading.Event()

    def feed() -> None:
        while not stop_feed.is_set():
            sent.append(image_msg(frame))
            image_pub.publish(sent[-1])
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    window = FakeWindow(
        [
            (
                "wait",
                lambda: (
                    len(window.shown) > 0
                    and node.follow_client.service_is_ready()
                    and node.select_pub.get_subscription_count() > 0
                ),
            ),
            ("mouse", cv2.EVENT_LBUTTONDOWN, 45, 30),  # the window shows 180x120: half size
            ("mouse", cv2.EVENT_MOUSEMOVE, 60, 50),
            ("mouse", cv2.EVENT_LBUTTONUP, 90, 90),
            ("wait", lambda: len(selections) == 1),
            ("key", ord("s")),
            ("wait", lambda: len(selections) == 2),
            ("key", ord("f")),
            ("wait", lambda: enables == [True]),
            ("key", ord("q")),
        ]
    )
    monkeypatch.setattr(selector_node.cv2, "imshow", lambda _name, image: window.shown.append(image))
    monkeypatch.setattr(selector_node.cv2, "waitKey", window.wait_key)
    monkeypatch.setattr(selector_node.cv2, "setMouseCallback", lambda _name, cb: setattr(window, "callback", cb))
    monkeypatch.setattr(selector_node.cv2, "getWindowProperty", lambda *_: 1.0)
    try:
        selector_node.run_window(node, StopRequest())  # never requested: the script's q ends it
    finally:
        stop_feed.set()
        feeder.join()
        executor.shutdown()
        spinner.join(timeout=5)
        node.destroy_node()
        peer.destroy_node()
        rclpy.shutdown(context=ctx)
    assert not window.steps, f"script not finished: {window.steps}"
    assert window.shown[0].shape == (120, 180, 3)  # scaled to max_width
    box, stop = selections
    assert box.command == TargetSelection.SELECT_BOX and box.normalized
    assert (box.x, box.y, box.width, box.height) == pytest.approx((0.25, 0.25, 0.25, 0.5))
    assert stamp_ns(box.header.stamp) in {stamp_ns(m.header.stamp) for m in sent}
    assert stop.command == TargetSelection.STOP
    assert enables == [True]
