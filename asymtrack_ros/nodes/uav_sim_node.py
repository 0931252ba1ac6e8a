"""ROS 2 simulator node: a multirotor with a gimbal camera in the default scenario.

Consumes the follow controller's commands, publishes what a real drone would give the
tracker and the controller, plus the ground truth. With ``publish_clock`` it owns ROS
time (/clock; start the other nodes with use_sim_time:=true) and can run faster or
slower than real time (``real_time_factor``); stepping is lockstep and seeded, so the
simulation itself is deterministic, though message timing over DDS is not.

Topics (relative): cmd_vel (Twist or TwistStamped, body FLU), gimbal/rate_cmd
(Vector3Stamped rad/s) -> image (bgr8), camera_info, gimbal/attitude (Vector3Stamped
rad), ground_truth/tracked_object (the target's true box as a TrackedObject),
select (one TargetSelection of the true box after ``select_after_s``, as an operator
would click), sim/vehicle_pose and sim/target_pose (PoseStamped, world ENU), /clock.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import rclpy
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped, Vector3Stamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image

from asymtrack_ros.msg import TargetSelection, TrackedObject

from ..control.follow import Command
from ..sim.render import CameraSpec
from ..sim.world import Frame, Simulator
from .image_codec import fill_image_msg
from .run import spin_node

PARAMS: dict[str, tuple[Any, str]] = {
    "seed": (0, "seed of the scenario's textures"),
    "width": (640, "image width [px]"),
    "height": (480, "image height [px]"),
    "hfov_deg": (70.0, "horizontal field of view [deg]"),
    "fps": (30.0, "camera rate in simulated time [Hz]"),
    "real_time_factor": (1.0, "simulated seconds per wall-clock second (needs publish_clock unless 1)"),
    "publish_clock": (True, "publish /clock and stamp with simulated time (others: use_sim_time:=true)"),
    "cmd_vel_stamped": (False, "cmd_vel is geometry_msgs/TwistStamped instead of Twist"),
    "command_timeout_s": (0.5, "commands older than this are dropped: the vehicle hovers [s]"),
    "camera_frame_id": ("camera_optical_frame", "frame_id of image and camera_info"),
    "world_frame_id": ("map", "frame_id of the ENU world poses"),
    "select_after_s": (1.0, "publish the true box on select after this long [s]; < 0: never"),
    "hold_until_command": (False, "the target waits for the first non-zero command (the follower engaging)"),
}


class ConfigError(ValueError):
    pass


def _stamp(t: float) -> Any:
    return rclpy.time.Time(nanoseconds=int(round(t * 1e9))).to_msg()


class UavSimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("uav_sim_node", **kwargs)
        for name, (default, desc) in PARAMS.items():
            self.declare_parameter(
                name, default, ParameterDescriptor(description=desc, dynamic_typing=True, read_only=True)
            )
        v = {name: self.get_parameter(name).value for name in PARAMS}
        self.cfg = _validate(v)
        c = self.cfg
        self.sim = Simulator(
            camera=CameraSpec(c["width"], c["height"], c["hfov_deg"]),
            seed=c["seed"],
            hold_until_command=c["hold_until_command"],
        )
        self._dt = 1.0 / c["fps"]
        self._cmd: dict[str, tuple[tuple[float, ...], float]] = {}  # "vel"/"gimbal" -> (values, sim time)
        self._selected = False
        self._started = False
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self._image_pub = self.create_publisher(Image, "image", reliable)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", reliable)
        self._gt_pub = self.create_publisher(TrackedObject, "ground_truth/tracked_object", 10)
        self._gimbal_pub = self.create_publisher(Vector3Stamped, "gimbal/attitude", 10)
        self._select_pub = self.create_publisher(TargetSelection, "select", 10)
        self._vehicle_pub = self.create_publisher(PoseStamped, "sim/vehicle_pose", 10)
        self._target_pub = self.create_publisher(PoseStamped, "sim/target_pose", 10)
        self._clock_pub = self.create_publisher(ClockMsg, "/clock", 10) if c["publish_clock"] else None
        twist_type = TwistStamped if c["cmd_vel_stamped"] else Twist
        self.create_subscription(twist_type, "cmd_vel", self._on_cmd_vel, 10)
        self.create_subscription(Vector3Stamped, "gimbal/rate_cmd", self._on_gimbal_cmd, 10)
        period = self._dt / c["real_time_factor"]
        self.create_timer(period, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f"{c['width']}x{c['height']} at {c['fps']:g} frames/s, real-time factor {c['real_time_factor']:g}, "
            f"{'publishing /clock' if c['publish_clock'] else 'system time'}"
        )

    # -- inputs ------------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist | TwistStamped) -> None:
        t = msg.twist if isinstance(msg, TwistStamped) else msg
        vals = (t.linear.x, t.linear.y, t.linear.z, t.angular.z)
        if all(math.isfinite(x) for x in vals):
            self._cmd["vel"] = (vals, self.sim.t)

    def _on_gimbal_cmd(self, msg: Vector3Stamped) -> None:
        # NaN means "ignore this axis" (as in the MAVLink gimbal protocol): treated as zero rate.
        y = msg.vector.y if math.isfinite(msg.vector.y) else 0.0
        z = msg.vector.z if math.isfinite(msg.vector.z) else 0.0
        self._cmd["gimbal"] = ((y, z), self.sim.t)

    def _command(self) -> Command:
        timeout = self.cfg["command_timeout_s"]
        out: dict[str, float] = {}
        vel = self._cmd.get("vel")
        if vel is not None and self.sim.t - vel[1] <= timeout:
            out.update(vx=vel[0][0], vy=vel[0][1], vz=vel[0][2], yaw_rate=vel[0][3])
        gim = self._cmd.get("gimbal")
        if gim is not None and self.sim.t - gim[1] <= timeout:
            out.update(gimbal_pitch_rate=gim[0][0], gimbal_yaw_rate=gim[0][1])
        return Command(**out)

    # -- stepping ----------------------------------------------------------------------
    def _tick(self) -> None:
        # Step before the first frame too, so that no message carries a zero stamp.
        self.sim.step(self._command(), self._dt)
        t = self.sim.t
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=_stamp(t)))
            stamp = _stamp(t)
        else:
            stamp = self.get_clock().now().to_msg()
        self._publish(self.sim.render(), stamp)

    def _publish(self, frame: Frame, stamp: Any) -> None:
        c, frame_id = self.cfg, self.cfg["camera_frame_id"]
        img = fill_image_msg(Image(), frame.image)
        img.header.stamp, img.header.frame_id = stamp, frame_id
        self._image_pub.publish(img)
        info = CameraInfo(width=c["width"], height=c["height"], distortion_model="plumb_bob")
        info.header = img.header
        k = self.sim.camera.k
        info.k = [float(x) for x in k.ravel()]
        info.d = [0.0] * 5
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
        self._info_pub.publish(info)
        s = frame.state
        g = Vector3Stamped()
        g.header.stamp, g.header.frame_id = stamp, "base_link"
        g.vector.y, g.vector.z = s.gimbal_pitch, s.gimbal_yaw
        self._gimbal_pub.publish(g)
        gt = TrackedObject(image_width=c["width"], image_height=c["height"], target_id=1)
        gt.header = img.header
        v = frame.target
        gt.state = TrackedObject.TRACKING if frame.target_tracked else TrackedObject.LOST
        if v.box is not None:
            gt.x, gt.y, gt.width, gt.height = (float(x) for x in v.box)
        gt.score = float(v.visible)
        self._gt_pub.publish(gt)
        self._poses(frame, stamp)
        after = c["select_after_s"]
        if (
            not self._selected
            and after >= 0.0
            and frame.t >= after
            and frame.target_tracked
            and self._select_pub.get_subscription_count() > 0
        ):
            sel = TargetSelection(
                command=TargetSelection.SELECT_BOX, x=gt.x, y=gt.y, width=gt.width, height=gt.height, normalized=False
            )
            sel.header = img.header
            self._select_pub.publish(sel)
            self._selected = True
            self.get_logger().info(f"selected the target at {tuple(round(x) for x in v.box)} (t = {frame.t:.2f} s)")

    def _poses(self, frame: Frame, stamp: Any) -> None:
        world = self.cfg["world_frame_id"]
        s = frame.state
        x, y, hd = self.sim.scenario.actor(self.sim.scenario.target).pose(self.sim.scenario_t)
        for pub, (px, py, pz, yaw) in ((self._vehicle_pub, (*s.pos, s.yaw)), (self._target_pub, (x, y, 0.0, hd))):
            m = PoseStamped()
            m.header.stamp, m.header.frame_id = stamp, world
            m.pose.position.x, m.pose.position.y, m.pose.position.z = float(px), float(py), float(pz)
            m.pose.orientation.z, m.pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
            pub.publish(m)


def _validate(v: dict[str, Any]) -> dict[str, Any]:
    def num(name: str, lo: float, hi: float = math.inf) -> float:
        x = v[name]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not lo <= x <= hi:
            raise ConfigError(f"parameter '{name}' must be a number in [{lo}, {hi}], got {x!r}")
        return float(x)

    out = dict(v)
    for name in ("seed", "width", "height"):
        if isinstance(v[name], bool) or not isinstance(v[name], int):
            raise ConfigError(f"parameter '{name}' must be an integer, got {v[name]!r}")
    if not (16 <= v["width"] <= 4096 and 16 <= v["height"] <= 4096):
        raise ConfigError("parameters 'width' and 'height' must be in [16, 4096]")
    out["hfov_deg"] = num("hfov_deg", 1.0, 170.0)
    out["fps"] = num("fps", 1.0, 240.0)
    out["real_time_factor"] = num("real_time_factor", 0.01, 100.0)
    out["command_timeout_s"] = num("command_timeout_s", 0.0)
    out["select_after_s"] = num("select_after_s", -math.inf)
    for name in ("publish_clock", "cmd_vel_stamped", "hold_until_command"):
        if not isinstance(v[name], bool):
            raise ConfigError(f"parameter '{name}' must be true or false, got {v[name]!r}")
    if not v["publish_clock"] and out["real_time_factor"] != 1.0:
        raise ConfigError("parameter 'real_time_factor' other than 1 needs publish_clock: true")
    return out


def main(args: list[str] | None = None) -> int:
    return spin_node("uav_sim_node", UavSimNode, (ConfigError,), args)


if __name__ == "__main__":
    sys.exit(main())
