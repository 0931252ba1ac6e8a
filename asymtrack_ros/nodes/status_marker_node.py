"""Tracker and follower state as a text marker for RViz2, which cannot show custom
messages: visualization_msgs/Marker (TEXT_VIEW_FACING) on ``operator_status_marker``.

The marker lives in its own frame (``frame_id``); config/track.rviz uses it as the fixed
frame, so no TF is needed.
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.node import Node
from visualization_msgs.msg import Marker

from ..ui.status import StatusBoard, status_lines
from .run import declare_parameters, spin_node
from .status_feed import feed_status_board

PARAMETERS: dict[str, tuple[Any, str]] = {
    "frame_id": ("asymtrack_status", "frame of the marker (RViz fixed frame in config/track.rviz)"),
    "rate_hz": (4.0, "marker updates per second"),
    "text_height": (0.12, "text height in the marker frame [m]"),
    "diagnostics_name": ("", "tracker's /diagnostics status name; empty: '<namespace>/tracker_node: tracker'"),
}
COLORS = {"TRACKING": (0.2, 0.9, 0.3), "LOST": (1.0, 0.3, 0.3)}


class StatusMarkerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("status_marker_node", **kwargs)
        self.p = p = declare_parameters(self, PARAMETERS)
        if not float(p["rate_hz"]) > 0:
            raise ValueError(f"parameter 'rate_hz' must be > 0, got {p['rate_hz']}")
        self.board = StatusBoard()
        feed_status_board(self, self.board, p["diagnostics_name"])
        self.pub = self.create_publisher(Marker, "operator_status_marker", 1)
        self.create_timer(1.0 / float(p["rate_hz"]), self._publish)

    def _publish(self) -> None:
        snapshot = self.board.snapshot()
        tracker = snapshot["tracker"]
        r, g, b = COLORS.get(tracker["state"] if tracker and tracker["fresh"] else "", (0.9, 0.9, 0.9))
        m = Marker(ns="asymtrack_status", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        m.header.frame_id = self.p["frame_id"]
        m.header.stamp = self.get_clock().now().to_msg()
        m.pose.orientation.w = 1.0
        m.scale.z = float(self.p["text_height"])
        m.color.r, m.color.g, m.color.b, m.color.a = r, g, b, 1.0
        m.text = "\n".join(status_lines(snapshot))
        self.pub.publish(m)


def main(args: list[str] | None = None) -> int:
    return spin_node("status_marker_node", StatusMarkerNode, (ValueError,), args)


if __name__ == "__main__":
    sys.exit(main())
