"""ROS 2 follow controller: TrackedObject in, gimbal rates and body velocities out.

Starts disengaged; ``~/enable`` (std_srvs/SetBool) engages and disengages. Never arms
and never changes flight modes. While engaged, commands stream at ``rate_hz`` (PX4
offboard needs > 2 Hz) and drop to exact zero when the target is lost, the tracker's
messages stop or go stale, or a message is invalid; disengaging publishes zero at once
and stops the stream.

Topics (relative, remap them): tracked_object, camera_info, gimbal/attitude (optional
feedback, Vector3Stamped rad: y pitch below the horizon, z yaw left of the body) ->
gimbal/rate_cmd (Vector3Stamped rad/s: y pitch rate, positive tilts down; z yaw rate,
positive pans left), cmd_vel (Twist or TwistStamped, body FLU), follow_status.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import rclpy
from geometry_msgs.msg import Twist, TwistStamped, Vector3Stamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import SetBool

from asymtrack_ros.msg import FollowStatus, TrackedObject

from ..control.camera import CameraModel
from ..control.follow import Command, FollowController, FollowState, Observation, Status
from ..control.params import SCHEMA, FollowParams, ParamError, load_params
from .run import spin_node

STATUS_PERIOD_DISENGAGED_S = 0.5


def stamp_s(stamp: Any) -> float:
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


class FollowControllerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("follow_controller_node", **kwargs)
        for name, spec in SCHEMA.items():
            self.declare_parameter(
                name, spec.default, ParameterDescriptor(description=spec.desc, dynamic_typing=True, read_only=True)
            )
        values = {name: self.get_parameter(name).value for name in SCHEMA}
        self.params: FollowParams = load_params(values)  # ParamError stops the node in main()
        p = self.params
        self.ctrl = FollowController(p)
        self._frame_id = ""
        self._last_status = -math.inf
        self._camera_warned = False
        latest = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # matches any publisher
        self.create_subscription(TrackedObject, "tracked_object", self._on_tracked, latest)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos_profile_sensor_data)
        self.create_subscription(Vector3Stamped, "gimbal/attitude", self._on_gimbal, latest)
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self._gimbal_pub = (
            self.create_publisher(Vector3Stamped, "gimbal/rate_cmd", reliable) if p.gimbal_enabled else None
        )
        self._twist_type = TwistStamped if p.cmd_vel_stamped else Twist
        self._cmd_pub = self.create_publisher(self._twist_type, "cmd_vel", reliable)
        self._status_pub = self.create_publisher(FollowStatus, "follow_status", 10)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_timer(1.0 / p.rate_hz, self._tick)
        self.get_logger().info(
            f"mode {p.mode}, {p.rate_hz:g} Hz, input timeout {p.input_timeout_s:g} s; disengaged "
            f"(call {self.get_fully_qualified_name()}/enable)"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -- inputs ------------------------------------------------------------------------
    def _on_tracked(self, msg: TrackedObject) -> None:
        self._frame_id = msg.header.frame_id
        obs = Observation(
            stamp_s(msg.header.stamp),
            int(msg.state),
            int(msg.target_id),
            (float(msg.x), float(msg.y), float(msg.width), float(msg.height)),
            float(msg.score),
            int(msg.image_width),
            int(msg.image_height),
        )
        self.ctrl.observe(obs, self._now())

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            cam = CameraModel.from_camera_info(
                msg.k, msg.p, msg.d, msg.distortion_model, msg.width, msg.height, self.params.use_projection
            )
        except ValueError as err:
            cam = None
            if not self._camera_warned:
                self.get_logger().warning(f"camera_info unusable ({err}); no motion without a camera model")
                self._camera_warned = True
        self.ctrl.set_camera(cam)

    def _on_gimbal(self, msg: Vector3Stamped) -> None:
        self.ctrl.set_gimbal_attitude(float(msg.vector.y), float(msg.vector.z), self._now())

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        now = self._now()
        was = self.ctrl.engaged
        self.ctrl.engage(bool(request.data), now)
        if was and not request.data:
            self._publish(Command(), now)  # zero at once, then the stream stops
            self._publish_status(self.ctrl.step(now)[1], now)  # and say so at once
        if request.data:
            self._tick()
        response.success = True
        response.message = "engaged" if request.data else "disengaged"
        if was != bool(request.data):
            self.get_logger().info(response.message)
        return response

    # -- outputs -----------------------------------------------------------------------
    def _tick(self) -> None:
        now = self._now()
        command, status = self.ctrl.step(now)
        if self.ctrl.engaged:
            self._publish(command, now)
            self._publish_status(status, now)
        elif now - self._last_status >= STATUS_PERIOD_DISENGAGED_S or now < self._last_status:
            self._publish_status(status, now)

    def _publish(self, c: Command, now: float) -> None:
        stamp = rclpy.time.Time(seconds=now).to_msg()
        if self._gimbal_pub is not None:
            g = Vector3Stamped()
            g.header.stamp, g.header.frame_id = stamp, self.params.gimbal_frame_id
            g.vector.x, g.vector.y, g.vector.z = 0.0, c.gimbal_pitch_rate, c.gimbal_yaw_rate
            self._gimbal_pub.publish(g)
        twist = Twist()
        twist.linear.x, twist.linear.y, twist.linear.z = c.vx, c.vy, c.vz
        twist.angular.z = c.yaw_rate
        if self._twist_type is TwistStamped:
            msg = TwistStamped()
            msg.header.stamp, msg.header.frame_id = stamp, self.params.vehicle_frame_id
            msg.twist = twist
            self._cmd_pub.publish(msg)
        else:
            self._cmd_pub.publish(twist)

    def _publish_status(self, s: Status, now: float) -> None:
        self._last_status = now
        msg = FollowStatus()
        msg.header.stamp = rclpy.time.Time(seconds=now).to_msg()
        msg.header.frame_id = self._frame_id
        msg.state = int(s.state)
        msg.engaged = s.engaged
        finite = s.state == FollowState.FOLLOWING
        msg.error_x = float(s.error_x) if finite else 0.0
        msg.error_y = float(s.error_y) if finite else 0.0
        msg.distance_error = float(s.distance_error) if finite else 0.0
        sat = s.saturated
        msg.saturated_yaw, msg.saturated_pitch = sat.get("yaw", False), sat.get("pitch", False)
        msg.saturated_forward, msg.saturated_vertical = sat.get("forward", False), sat.get("vertical", False)
        msg.target_age_s = float(min(s.target_age_s, 1e9))
        msg.message = s.message
        self._status_pub.publish(msg)

    def shutdown(self) -> None:
        """Leave the vehicle with a zero command if we were driving it."""
        if self.ctrl.engaged:
            self.ctrl.engage(False, self._now())
            self._publish(Command(), self._now())


def main(args: list[str] | None = None) -> int:
    return spin_node(
        "follow_controller_node", FollowControllerNode, (ParamError,), args, on_exit=FollowControllerNode.shutdown
    )


if __name__ == "__main__":
    sys.exit(main())
