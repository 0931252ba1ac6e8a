"""Feeding a ``StatusBoard`` from the tracker's and follower's topics (web page, RViz marker)."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from asymtrack_ros.msg import FollowStatus, TrackedObject

from ..ui.status import StatusBoard


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def feed_status_board(node: Node, board: StatusBoard, diagnostics_name: str = "") -> None:
    """Subscribe ``node`` to tracked_object, follow_status and /diagnostics into ``board``;
    the tracker's diagnostics entry is the one of the tracker beside this node (same
    namespace) unless ``diagnostics_name`` names another.
    """
    ns = node.get_namespace().strip("/")
    diag_name = diagnostics_name or f"{ns + '/' if ns else ''}tracker_node: tracker"

    def on_tracked(m: TrackedObject) -> None:
        board.tracked(m.state, m.target_id, m.score, m.latency_ms, stamp_ns(m.header.stamp))

    def on_follow(m: FollowStatus) -> None:
        board.follow(m.state, m.engaged, m.message)

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == diag_name:
                board.diagnostics({kv.key: kv.value for kv in status.values})

    node.create_subscription(TrackedObject, "tracked_object", on_tracked, 10)
    node.create_subscription(FollowStatus, "follow_status", on_follow, 10)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
