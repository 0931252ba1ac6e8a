"""The generated asymtrack_ros messages, sent over real DDS between two nodes.

Real rclpy and Fast DDS (kept on this machine by scripts/env.sh). Nothing here is
skipped: if rclpy or the generated messages cannot be imported, this fails.
"""

import os
import time

import pytest
import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import Header

from asymtrack_ros.msg import FollowStatus, TargetSelection, TrackedObject

DISCOVERY_TIMEOUT_S = 120.0  # reached only if discovery never completes

# lark (used by the rosidl parser that rclpy loads) imports deprecated stdlib modules.
pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")


def test_constants():
    assert (
        TargetSelection.SELECT_BOX,
        TargetSelection.SELECT_POINT,
        TargetSelection.STOP,
    ) == (
        0,
        1,
        2,
    )
    assert (TrackedObject.IDLE, TrackedObject.TRACKING, TrackedObject.LOST) == (0, 1, 2)
    assert (
        FollowStatus.IDLE,
        FollowStatus.FOLLOWING,
        FollowStatus.LOST,
        FollowStatus.SEARCHING,
        FollowStatus.DISABLED,
    ) == (0, 1, 2, 3, 4)


def test_field_names_and_types():
    # The field names are a contract with the nodes and their users.
    assert TargetSelection.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "command": "uint8",
        "x": "float",
        "y": "float",
        "width": "float",
        "height": "float",
        "normalized": "boolean",
    }
    assert TrackedObject.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "state": "uint8",
        "target_id": "uint32",
        "x": "float",
        "y": "float",
        "width": "float",
        "height": "float",
        "score": "float",
        "image_width": "uint32",
        "image_height": "uint32",
        "latency_ms": "float",
    }
    assert FollowStatus.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "state": "uint8",
        "engaged": "boolean",
        "error_x": "float",
        "error_y": "float",
        "distance_error": "float",
        "saturated_yaw": "boolean",
        "saturated_pitch": "boolean",
        "saturated_forward": "boolean",
        "saturated_vertical": "boolean",
        "target_age_s": "float",
        "message": "string",
    }


@pytest.fixture
def context(monkeypatch):
    # Stay on this machine whatever the calling shell set (read by rclpy.init()).
    monkeypatch.setitem(os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        rclpy.shutdown(context=ctx)


def _roundtrip(context, msg_type, topic, msg):
    """Publish msg from one node until another node receives it; return what it got."""
    qos = QoSProfile(
        depth=10,
        reliability=QoSReliabilityPolicy.RELIABLE,
        durability=QoSDurabilityPolicy.VOLATILE,
    )
    pub_node = rclpy.create_node("asymtrack_test_pub", context=context)
    sub_node = rclpy.create_node("asymtrack_test_sub", context=context)
    executor = SingleThreadedExecutor(context=context)
    received = []
    try:
        sub_node.create_subscription(msg_type, topic, received.append, qos)
        pub = pub_node.create_publisher(msg_type, topic, qos)
        executor.add_node(pub_node)
        executor.add_node(sub_node)
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
        next_publish = 0.0
        while not received and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_publish:
                pub.publish(msg)
                next_publish = now + 0.1
            executor.spin_once(timeout_sec=0.05)
        assert received, f"no {msg_type.__name__} received on {topic} within {DISCOVERY_TIMEOUT_S} s"
        return received[0]
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()


def _header(sec, nanosec, frame_id):
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def test_tracked_object_roundtrip(context):
    sent = TrackedObject(
        header=_header(1_700_000_123, 456_789_000, "camera_optical_frame"),
        state=TrackedObject.TRACKING,
        target_id=7,
        x=12.5,
        y=40.25,
        width=64.0,
        height=32.75,
        score=0.875,
        image_width=1280,
        image_height=720,
        latency_ms=23.5,
    )
    got = _roundtrip(context, TrackedObject, "asymtrack_test/tracked_object", sent)
    assert got.header.stamp.sec == 1_700_000_123
    assert got.header.stamp.nanosec == 456_789_000
    assert got.header.frame_id == "camera_optical_frame"
    assert got.state == TrackedObject.TRACKING
    assert got.target_id == 7
    # All values are exactly representable as float32.
    assert (got.x, got.y, got.width, got.height) == (12.5, 40.25, 64.0, 32.75)
    assert got.score == 0.875
    assert (got.image_width, got.image_height) == (1280, 720)
    assert got.latency_ms == 23.5
    assert got == sent


def test_target_selection_roundtrip(context):
    sent = TargetSelection(
        header=_header(0, 0, "camera_optical_frame"),
        command=TargetSelection.SELECT_BOX,
        x=0.25,
        y=0.5,
        width=0.125,
        height=0.0625,
        normalized=True,
    )
    got = _roundtrip(context, TargetSelection, "asymtrack_test/target_selection", sent)
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (0, 0)
    assert got.header.frame_id == "camera_optical_frame"
    assert got.command == TargetSelection.SELECT_BOX
    assert (got.x, got.y, got.width, got.height) == (0.25, 0.5, 0.125, 0.0625)
    assert got.normalized is True
    assert got == sent


def test_follow_status_roundtrip(context):
    sent = FollowStatus(
        header=_header(5, 1, "camera_optical_frame"),
        state=FollowStatus.FOLLOWING,
        engaged=True,
        error_x=0.125,
        error_y=-0.0625,
        distance_error=1.5,
        saturated_yaw=True,
        saturated_pitch=False,
        saturated_forward=True,
        saturated_vertical=False,
        target_age_s=0.25,
        message="following target 3",
    )
    got = _roundtrip(context, FollowStatus, "asymtrack_test/follow_status", sent)
    assert got == sent
    assert got.message == "following target 3"
