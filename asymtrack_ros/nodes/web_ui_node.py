"""Browser operator page: serves the annotated stream and takes selections, stop and
follower commands from a phone or a laptop (``ui.web_server``, standard library HTTP).

A thin ROS adapter: frames, tracker output, diagnostics and follower status go into the
server's stores; validated commands come back as TargetSelection messages and SetBool
calls. The image is subscribed only while someone watches, so the tracker draws its
debug image only then.
"""

from __future__ import annotations

import ipaddress
import math
import sys
import threading
import time
from typing import Any

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool

from asymtrack_ros.msg import TargetSelection

from ..tracking.session import Selection
from ..ui.status import StatusBoard
from ..ui.web_api import StreamOptions
from ..ui.web_server import FrameStore, OperatorServer
from .image_codec import compressed_loader, image_loader
from .run import declare_parameters, finish, init, spin_until_shutdown
from .status_feed import feed_status_board, stamp_ns

PARAMETERS: dict[str, tuple[Any, str]] = {
    "address": ("127.0.0.1", "address to bind; 0.0.0.0 serves every interface (set a token then)"),
    "port": (8080, "TCP port"),
    "token": ("", "access token required by the stream and the API; empty: none"),
    "allowed_hosts": ("", "comma-separated host names the page may be reached by besides IPs and localhost; *: any"),
    "image_topic": ("debug_image", "image shown: the tracker's debug_image, or a camera topic"),
    "image_transport": ("raw", "raw (sensor_msgs/Image) or compressed (<image_topic>/compressed)"),
    "stream_fps": (15.0, "default largest frame rate sent to a viewer (?fps= overrides)"),
    "jpeg_quality": (80, "default JPEG quality (?quality= overrides)"),
    "max_width": (960, "default: wider frames are scaled down to this [px], 0: full size (?width= overrides)"),
    "follow_service": ("follow_controller_node/enable", "std_srvs/SetBool service of the follower"),
    "follow_timeout_s": (2.0, "how long to wait for the follower service to answer [s]"),
    "diagnostics_name": ("", "tracker's /diagnostics status name; empty: '<namespace>/tracker_node: tracker'"),
    "idle_unsubscribe_s": (5.0, "drop the image subscription this long after the last viewer left [s]"),
}


class WebUiNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("web_ui_node", **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        if not 0 <= p["port"] <= 65535:
            raise ValueError(f"parameter 'port' must be 0 to 65535, got {p['port']}")
        for name, zero_ok in (("follow_timeout_s", False), ("idle_unsubscribe_s", True)):
            if not (math.isfinite(p[name]) and (p[name] > 0 or zero_ok and p[name] == 0)):
                raise ValueError(
                    f"parameter '{name}' must be a finite number {'>=' if zero_ok else '>'} 0, got {p[name]}"
                )
        if p["image_transport"] not in ("raw", "compressed"):
            raise ValueError(f"parameter 'image_transport' must be raw or compressed, got {p['image_transport']!r}")
        self.defaults = StreamOptions(float(p["stream_fps"]), int(p["jpeg_quality"]), int(p["max_width"]))
        self.frames = FrameStore()
        self.board = StatusBoard()
        self._image_sub: Any = None
        self.select_pub = self.create_publisher(TargetSelection, "select", 10)
        self.follow_client = self.create_client(SetBool, str(self.p["follow_service"]))
        feed_status_board(self, self.board, self.p["diagnostics_name"])
        self.create_timer(0.5, self._sync_image_subscription)

    # -- ROS side ----------------------------------------------------------------------

    def _sync_image_subscription(self) -> None:
        watched = self.frames.viewers > 0 or time.monotonic() - self.frames.last_viewer < self.p["idle_unsubscribe_s"]
        watched = watched and self.frames.last_viewer > 0
        if watched and self._image_sub is None:
            topic = str(self.p["image_topic"])
            if self.p["image_transport"] == "compressed":
                self._image_sub = self.create_subscription(
                    CompressedImage, f"{topic}/compressed", self._on_compressed, qos_profile_sensor_data
                )
            else:
                self._image_sub = self.create_subscription(Image, topic, self._on_image, qos_profile_sensor_data)
        elif not watched and self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None

    def _on_image(self, msg: Image) -> None:
        try:
            self.frames.put(image_loader(msg), stamp_ns(msg.header.stamp))
        except ValueError as err:
            self.get_logger().warning(f"unusable image: {err}", throttle_duration_sec=5.0)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self.frames.put(compressed_loader(msg), stamp_ns(msg.header.stamp))

    # -- the server's backend (HTTP threads) -------------------------------------------

    def select(self, s: Selection) -> None:
        msg = TargetSelection(command=s.command, x=s.x, y=s.y, width=s.width, height=s.height)
        msg.normalized = s.normalized
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(s.stamp_ns, 1_000_000_000)
        self.select_pub.publish(msg)
        where = f"({s.x:.3f}, {s.y:.3f}, {s.width:.3f}, {s.height:.3f})"
        self.get_logger().info(f"{s.source}: command {s.command} at {where}, stamp {s.stamp_ns} ns")

    def follow(self, enable: bool) -> tuple[int, str]:
        if not self.follow_client.service_is_ready():
            return 503, f"follower service {self.follow_client.srv_name} not available"
        done = threading.Event()
        future = self.follow_client.call_async(SetBool.Request(data=enable))
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(float(self.p["follow_timeout_s"])):
            future.cancel()
            return 504, "follower service did not answer"
        result = future.result()
        if result is None:
            return 502, "follower service call failed"
        return (200 if result.success else 409), result.message

    def status(self) -> dict[str, Any]:
        return self.board.snapshot()


def main(args: list[str] | None = None) -> int:
    stop = init(args)
    node: WebUiNode | None = None
    server: OperatorServer | None = None
    code = 0
    try:
        node = WebUiNode()
        log = node.get_logger()
        p = node.p
        hosts = tuple(h.strip() for h in str(p["allowed_hosts"]).split(",") if h.strip())
        server = OperatorServer(
            (p["address"], int(p["port"])),
            node,
            node.frames,
            node.defaults,
            token=str(p["token"]),
            allowed_hosts=hosts,
            log=log.warning,
        )
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        host, port = server.server_address[:2]
        log.info(
            f"operator page on http://{host}:{port}/ (image {p['image_topic']}, select on "
            f"{node.select_pub.topic_name}, follower {node.follow_client.srv_name})"
        )
        if not p["token"] and not ipaddress.ip_address(host).is_loopback:
            log.warning(f"serving {host} without a token: anyone who can reach port {port} can steer the target")
        spin_until_shutdown(node, stop)
    except (ValueError, OSError) as err:
        print(f"web_ui_node: {err}", file=sys.stderr)
        code = 2
    finally:
        finish(node, server.close if server is not None else None)
    return code


if __name__ == "__main__":
    sys.exit(main())
