"""Follow controller parameters: names, defaults, meaning, units and validation.

ROS parameter names are the dotted keys of ``SCHEMA`` (nested maps in a params file).
Angles are in degrees in parameters and radians inside; ``load_params`` converts, checks
types, ranges and cross-constraints, and raises ``ParamError`` naming the parameter, so a
wrong value stops the node with one clear line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .pid import PidGains

MODES = ("gimbal", "yaw", "follow")
AXES = ("gimbal_yaw", "gimbal_pitch", "yaw", "forward", "vertical")


class ParamError(ValueError):
    pass


@dataclass(frozen=True)
class Spec:
    default: Any
    desc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] | None = None


def _pid(kp: float, ki: float, kd: float, i_lim: float, db: float, d_tau: float, m_tau: float, unit: str) -> dict:
    out = "deg/s" if unit == "deg" else "m/s"
    return {
        "kp": Spec(kp, "proportional gain [1/s]", 0.0),
        "ki": Spec(ki, "integral gain [1/s^2]", 0.0),
        "kd": Spec(kd, "derivative gain (on the measurement) [-]", 0.0),
        "i_limit": Spec(i_lim, f"largest integral term [{out}]", 0.0),
        "deadband": Spec(db, f"errors below this are ignored [{unit}]", 0.0),
        "d_tau": Spec(d_tau, "derivative low-pass time constant [s]", 0.0),
        "meas_tau": Spec(m_tau, "measurement low-pass time constant [s] (0: none)", 0.0),
    }


_PIDS = {
    "gimbal_yaw": _pid(2.5, 0.5, 0.05, 20.0, 0.2, 0.05, 0.0, "deg"),
    "gimbal_pitch": _pid(2.5, 0.5, 0.05, 20.0, 0.2, 0.05, 0.0, "deg"),
    "yaw": _pid(1.5, 0.3, 0.05, 15.0, 0.3, 0.05, 0.0, "deg"),
    "forward": _pid(1.0, 0.3, 0.3, 5.0, 0.3, 0.1, 0.2, "m"),
    "vertical": _pid(0.6, 0.05, 0.05, 0.5, 0.2, 0.1, 0.3, "m"),
}

SCHEMA: dict[str, Spec] = {
    "mode": Spec(
        "gimbal",
        "gimbal: gimbal rates only; yaw: vehicle yaw (+ gimbal pitch); follow: yaw, forward/back and up/down",
        choices=MODES,
    ),
    "rate_hz": Spec(20.0, "command stream rate while engaged [Hz] (PX4 offboard needs > 2)", 2.0, 200.0, True),
    "input_timeout_s": Spec(
        0.3,
        "watchdog: zero commands when tracked_object stops arriving, or its stamp is older than this [s]",
        0.0,
        5.0,
        True,
    ),
    "stamp_tolerance_s": Spec(0.05, "stamps up to this far in the future are accepted (clock offsets) [s]", 0.0, 1.0),
    "min_score": Spec(0.3, "tracker scores below this count as no target", 0.0, 1.0),
    "cmd_vel_stamped": Spec(False, "publish geometry_msgs/TwistStamped instead of Twist on cmd_vel"),
    "vehicle_frame_id": Spec("base_link", "frame_id of TwistStamped commands (body FLU)"),
    "camera.hfov_deg": Spec(
        0.0, "horizontal field of view used when no camera_info has arrived [deg]; 0: camera_info required", 0.0, 179.0
    ),
    "camera.use_projection": Spec(False, "use camera_info P (rectified images) instead of K and D (raw images)"),
    "camera.pitch_deg": Spec(0.0, "camera pitch below the horizon without gimbal attitude feedback [deg]", -90.0, 90.0),
    "gimbal.enabled": Spec(True, "a rate-controlled gimbal is present (gimbal/rate_cmd is published)"),
    "gimbal.frame_id": Spec("base_link", "frame_id of the gimbal rate commands (the gimbal base, FLU)"),
    "gimbal.max_rate_deg_s": Spec(60.0, "largest gimbal rate [deg/s]", 0.0, 720.0, True),
    "gimbal.max_accel_deg_s2": Spec(360.0, "largest gimbal rate change [deg/s^2]", 0.0, None, True),
    "gimbal.recenter_gain": Spec(
        1.0,
        "yaw and follow modes: gimbal yaw is driven back to the body axis at this "
        "gain [1/s] (needs gimbal attitude feedback)",
        0.0,
        20.0,
    ),
    "gimbal.feedback_timeout_s": Spec(0.5, "gimbal attitude older than this is ignored [s]", 0.0, None, True),
    "vehicle.max_yaw_rate_deg_s": Spec(45.0, "largest vehicle yaw rate [deg/s]", 0.0, 360.0, True),
    "vehicle.max_yaw_accel_deg_s2": Spec(90.0, "largest vehicle yaw rate change [deg/s^2]", 0.0, None, True),
    "vehicle.max_forward_speed": Spec(5.0, "largest forward speed [m/s]", 0.0, 50.0),
    "vehicle.max_backward_speed": Spec(2.0, "largest backward speed [m/s]", 0.0, 50.0),
    "vehicle.max_up_speed": Spec(1.5, "largest climb speed [m/s]", 0.0, 20.0),
    "vehicle.max_down_speed": Spec(1.0, "largest descent speed [m/s]", 0.0, 20.0),
    "vehicle.max_accel": Spec(2.0, "largest horizontal speed change [m/s^2]", 0.0, None, True),
    "vehicle.max_vertical_accel": Spec(1.0, "largest vertical speed change [m/s^2]", 0.0, None, True),
    "vehicle.vertical_enabled": Spec(True, "follow mode: command up/down to hold standoff.elevation_deg"),
    "standoff.distance_m": Spec(
        15.0, "follow mode: desired distance to the target along the line of sight [m]", 0.0, 1000.0, True
    ),
    "standoff.elevation_deg": Spec(
        30.0, "follow mode: desired angle of the target below the horizon [deg]", -45.0, 85.0
    ),
    "standoff.target_height_m": Spec(1.7, "assumed height of the target (its box height) [m]", 0.0, 100.0),
    "standoff.box_height": Spec(
        0.0,
        "desired box height as a fraction of the image height; > 0 replaces "
        "target_height_m (the target's size is then unknown)",
        0.0,
        1.0,
    ),
    "gate.max_size_jump": Spec(
        1.6,
        "a box height this many times above or below the average of the accepted "
        "ones is not acted on (a drifting tracker's jump) until it returns; 0: off",
        0.0,
        100.0,
    ),
    "gate.size_tau_s": Spec(1.0, "time constant of that average [s]: how fast it follows a real approach", 0.0, 60.0),
    "lost.search_after_s": Spec(
        0.0, "after this long LOST, yaw towards where the target was last seen [s]; 0: hold still", 0.0
    ),
    "lost.search_rate_deg_s": Spec(15.0, "search yaw rate [deg/s]", 0.0, 360.0, True),
    "lost.idle_after_s": Spec(
        10.0, "after this long LOST or SEARCHING, give up (IDLE, zero commands) [s]", 0.0, None, True
    ),
}
for _axis, _specs in _PIDS.items():
    SCHEMA.update({f"pid.{_axis}.{k}": v for k, v in _specs.items()})


@dataclass(frozen=True)
class FollowParams:
    """Validated values, SI units and radians."""

    mode: str
    rate_hz: float
    input_timeout_s: float
    stamp_tolerance_s: float
    min_score: float
    cmd_vel_stamped: bool
    vehicle_frame_id: str
    hfov: float
    use_projection: bool
    camera_pitch: float
    gimbal_enabled: bool
    gimbal_frame_id: str
    gimbal_max_rate: float
    gimbal_max_accel: float
    gimbal_recenter_gain: float
    gimbal_feedback_timeout_s: float
    max_yaw_rate: float
    max_yaw_accel: float
    max_forward_speed: float
    max_backward_speed: float
    max_up_speed: float
    max_down_speed: float
    max_accel: float
    max_vertical_accel: float
    vertical_enabled: bool
    standoff_distance: float
    standoff_elevation: float
    target_height: float
    box_height: float
    search_after_s: float
    search_rate: float
    idle_after_s: float
    max_size_jump: float
    size_tau_s: float
    pids: dict[str, PidGains]


def defaults() -> dict[str, Any]:
    return {name: spec.default for name, spec in SCHEMA.items()}


def _check(name: str, spec: Spec, v: Any) -> Any:
    d = spec.default
    if isinstance(d, bool):
        if not isinstance(v, bool):
            raise ParamError(f"parameter '{name}' must be true or false, got {v!r}")
        return v
    if isinstance(d, str):
        if not isinstance(v, str):
            raise ParamError(f"parameter '{name}' must be a string, got {v!r}")
        if spec.choices is not None and v not in spec.choices:
            raise ParamError(f"parameter '{name}' must be one of {', '.join(spec.choices)}; got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ParamError(f"parameter '{name}' must be a finite number, got {v!r}")
    v = float(v)
    lo, hi = spec.lo, spec.hi
    if lo is not None and (v < lo or (spec.lo_open and v == lo)):
        raise ParamError(f"parameter '{name}' must be {'>' if spec.lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ParamError(f"parameter '{name}' must be <= {hi}, got {v}")
    return v


def load_params(values: Mapping[str, Any]) -> FollowParams:
    """Validated parameters from dotted names (missing names keep their defaults)."""
    unknown = sorted(set(values) - set(SCHEMA))
    if unknown:
        raise ParamError(f"unknown parameter(s): {', '.join(unknown)}")
    merged = {**defaults(), **values}
    v = {name: _check(name, spec, merged[name]) for name, spec in SCHEMA.items()}
    rad = math.radians
    pids = {}
    for axis in AXES:
        g = {k: v[f"pid.{axis}.{k}"] for k in _PIDS[axis]}
        if axis in ("gimbal_yaw", "gimbal_pitch", "yaw"):
            g["i_limit"], g["deadband"] = rad(g["i_limit"]), rad(g["deadband"])
        pids[axis] = PidGains(**g)
    p = FollowParams(
        mode=v["mode"],
        rate_hz=v["rate_hz"],
        input_timeout_s=v["input_timeout_s"],
        stamp_tolerance_s=v["stamp_tolerance_s"],
        min_score=v["min_score"],
        cmd_vel_stamped=v["cmd_vel_stamped"],
        vehicle_frame_id=v["vehicle_frame_id"],
        hfov=rad(v["camera.hfov_deg"]),
        use_projection=v["camera.use_projection"],
        camera_pitch=rad(v["camera.pitch_deg"]),
        gimbal_enabled=v["gimbal.enabled"],
        gimbal_frame_id=v["gimbal.frame_id"],
        gimbal_max_rate=rad(v["gimbal.max_rate_deg_s"]),
        gimbal_max_accel=rad(v["gimbal.max_accel_deg_s2"]),
        gimbal_recenter_gain=v["gimbal.recenter_gain"],
        gimbal_feedback_timeout_s=v["gimbal.feedback_timeout_s"],
        max_yaw_rate=rad(v["vehicle.max_yaw_rate_deg_s"]),
        max_yaw_accel=rad(v["vehicle.max_yaw_accel_deg_s2"]),
        max_forward_speed=v["vehicle.max_forward_speed"],
        max_backward_speed=v["vehicle.max_backward_speed"],
        max_up_speed=v["vehicle.max_up_speed"],
        max_down_speed=v["vehicle.max_down_speed"],
        max_accel=v["vehicle.max_accel"],
        max_vertical_accel=v["vehicle.max_vertical_accel"],
        vertical_enabled=v["vehicle.vertical_enabled"],
        standoff_distance=v["standoff.distance_m"],
        standoff_elevation=rad(v["standoff.elevation_deg"]),
        target_height=v["standoff.target_height_m"],
        box_height=v["standoff.box_height"],
        search_after_s=v["lost.search_after_s"],
        search_rate=rad(v["lost.search_rate_deg_s"]),
        idle_after_s=v["lost.idle_after_s"],
        max_size_jump=v["gate.max_size_jump"],
        size_tau_s=v["gate.size_tau_s"],
        pids=pids,
    )
    _cross_check(p)
    return p


def _cross_check(p: FollowParams) -> None:
    if 0.0 < p.max_size_jump <= 1.0:
        raise ParamError("parameter 'gate.max_size_jump' must be > 1 (or 0 to turn the gate off)")
    if p.mode == "gimbal" and not p.gimbal_enabled:
        raise ParamError("parameter 'mode' is gimbal but 'gimbal.enabled' is false: nothing to command")
    if p.input_timeout_s < 1.0 / p.rate_hz:
        raise ParamError(f"parameter 'input_timeout_s' ({p.input_timeout_s}) must be >= one command period (1/rate_hz)")
    if p.mode == "follow" and p.target_height <= 0.0 and p.box_height <= 0.0:
        raise ParamError("follow mode needs 'standoff.target_height_m' > 0 or 'standoff.box_height' > 0")
    search_max = p.gimbal_max_rate if p.mode == "gimbal" else p.max_yaw_rate
    if p.search_after_s > 0.0 and p.search_rate > search_max:
        raise ParamError("parameter 'lost.search_rate_deg_s' exceeds the largest yaw rate of the searching axis")
    if p.search_after_s > 0.0 and p.search_after_s >= p.idle_after_s:
        raise ParamError("parameter 'lost.search_after_s' must be < 'lost.idle_after_s'")
