"""Follow controller: tracked boxes in, gimbal rates and body velocities out.

Conventions (REP-103): body and gimbal base frames are FLU (x forward, y left, z up).
Gimbal pitch rate is about the gimbal's y axis, so positive tilts the camera down; yaw
rates are about z, positive turns left. Camera pitch (feedback, parameter) is positive
below the horizon.

Safety: commands are non-zero only while engaged and FOLLOWING on a fresh, valid
measurement; anything else (disengaged, tracker LOST or IDLE, a rejected message, input
timeout) gives exact zeros at once, with no slew. Only the ramp-up is rate limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from .camera import CameraModel, ray_angles, subtended_range
from .gate import SizeGate
from .params import FollowParams
from .pid import Pid, clamp

TRACKER_IDLE, TRACKER_TRACKING, TRACKER_LOST = 0, 1, 2  # TrackedObject states


class FollowState(IntEnum):
    """Values equal the ``FollowStatus`` message constants."""

    IDLE = 0
    FOLLOWING = 1
    LOST = 2
    SEARCHING = 3
    DISABLED = 4


@dataclass(frozen=True)
class Observation:
    """One TrackedObject, ROS-free: stamp [s] on the controller's clock, box in pixels."""

    stamp: float
    state: int
    target_id: int
    box: tuple[float, float, float, float]
    score: float
    image_width: int
    image_height: int


@dataclass(frozen=True)
class Command:
    gimbal_pitch_rate: float = 0.0  # rad/s, positive = tilt down
    gimbal_yaw_rate: float = 0.0  # rad/s, positive = pan left
    vx: float = 0.0  # m/s body forward
    vy: float = 0.0  # m/s body left (always 0: the follower does not side-step)
    vz: float = 0.0  # m/s up
    yaw_rate: float = 0.0  # rad/s, positive = turn left

    def is_zero(self) -> bool:
        return not any((self.gimbal_pitch_rate, self.gimbal_yaw_rate, self.vx, self.vy, self.vz, self.yaw_rate))


@dataclass
class Status:
    state: FollowState = FollowState.DISABLED
    engaged: bool = False
    error_x: float = 0.0  # rad, target right of the optical axis
    error_y: float = 0.0  # rad, target below the optical axis
    distance: float = math.nan  # estimated line-of-sight distance [m]
    distance_error: float = 0.0  # m, positive = farther than the set-point
    saturated: dict[str, bool] = field(default_factory=dict)  # yaw, pitch, forward, vertical
    target_age_s: float = math.inf
    message: str = ""


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


class FollowController:
    def __init__(self, params: FollowParams) -> None:
        self.p = params
        g, lim = params.pids, params
        self.pid = {
            "gimbal_yaw": Pid(g["gimbal_yaw"], -lim.gimbal_max_rate, lim.gimbal_max_rate, lim.gimbal_max_accel),
            "gimbal_pitch": Pid(g["gimbal_pitch"], -lim.gimbal_max_rate, lim.gimbal_max_rate, lim.gimbal_max_accel),
            "yaw": Pid(g["yaw"], -lim.max_yaw_rate, lim.max_yaw_rate, lim.max_yaw_accel),
            "forward": Pid(g["forward"], -lim.max_backward_speed, lim.max_forward_speed, lim.max_accel),
            "vertical": Pid(g["vertical"], -lim.max_down_speed, lim.max_up_speed, lim.max_vertical_accel),
        }
        self.size_gate = SizeGate(params.max_size_jump, params.size_tau_s)
        self.camera: CameraModel | None = None
        self.engaged = False
        self._gimbal: tuple[float, float, float] | None = None  # pitch, yaw, time
        self._reset_target()

    # inputs -------------------------------------------------------------------------
    def set_camera(self, camera: CameraModel | None) -> None:
        self.camera = camera

    def set_gimbal_attitude(self, pitch: float, yaw: float, now: float) -> None:
        """Gimbal feedback: pitch below the horizon, yaw left of the body axis [rad]."""
        self._gimbal = (pitch, yaw, now) if _finite(pitch, yaw) else None

    def engage(self, on: bool, now: float) -> None:
        if on != self.engaged:
            self.engaged = on
            self._reset_target()

    def observe(self, obs: Observation, now: float) -> str:
        """Gate one tracker message; returns '' if accepted, else why it was rejected.

        A rejected message counts as 'no target' at once (commands go to zero).
        """
        self._last_arrival = now
        if obs.target_id != self._target_id:  # a new selection: start its loops afresh
            for pid in self.pid.values():
                pid.reset()
            self.size_gate.reset()
            self._last_stamp = None
        self._target_id = obs.target_id
        reason = self._reject_reason(obs, now)
        if obs.state == TRACKER_IDLE:
            self._tracker_idle = True
            self._valid = None
            return "no target selected"
        self._tracker_idle = False
        if not reason:
            jump = self.size_gate.check(obs.box[3] / obs.image_height, obs.stamp)
            if self.size_gate.rejects(jump):
                reason = f"box height jumped x{jump:.1f} against its recent average (tracker drift?)"
        if reason:
            self._valid, self._reject = None, reason
            return reason
        self._reject = ""
        self._valid = obs
        self._pending = obs
        return ""

    def _reject_reason(self, obs: Observation, now: float) -> str:
        x, y, w, h = obs.box
        if not _finite(x, y, w, h, obs.score, obs.stamp):
            return "non-finite values in tracked_object"
        if obs.state == TRACKER_LOST:
            return "tracker lost the target"
        if obs.state != TRACKER_TRACKING:
            return f"unknown tracker state {obs.state}"
        if obs.score < self.p.min_score:
            return f"score {obs.score:.2f} below min_score"
        if obs.stamp <= 0.0:
            return "tracked_object has no stamp"
        age = now - obs.stamp
        if age > self.p.input_timeout_s:
            return f"stale tracked_object (stamp {age:.2f} s old)"
        if age < -self.p.stamp_tolerance_s:
            return f"tracked_object stamp {-age:.2f} s in the future"
        if w <= 0.0 or h <= 0.0 or obs.image_width < 1 or obs.image_height < 1:
            return "empty box or image size"
        if x + w <= 0.0 or y + h <= 0.0 or x >= obs.image_width or y >= obs.image_height:
            return "box outside the image"
        if self._camera_for(obs) is None:
            return "no camera model (camera_info not received, camera.hfov_deg = 0)"
        return ""

    def _camera_for(self, obs: Observation) -> CameraModel | None:
        """The camera at the box's image size; None without a model, or when that size makes
        none (camera_info of 1x1 px against an image of 10^9 px: infinite focal lengths).
        """
        try:
            if self.camera is not None:
                return self.camera.scaled_to(obs.image_width, obs.image_height)
            if self.p.hfov > 0.0:
                return CameraModel.from_hfov(self.p.hfov, obs.image_width, obs.image_height)
        except ValueError:
            return None
        return None

    # output -------------------------------------------------------------------------
    def step(self, now: float) -> tuple[Command, Status]:
        """Command and status at time ``now``; call at rate_hz while engaged."""
        st = Status(engaged=self.engaged)
        if self._valid is not None:
            st.target_age_s = max(0.0, now - self._valid.stamp)
        if not self.engaged:
            st.state, st.message = FollowState.DISABLED, "not engaged (call ~/enable)"
            return Command(), st
        v = self._valid
        fresh = (
            v is not None
            and now - self._last_arrival <= self.p.input_timeout_s
            and now - v.stamp <= self.p.input_timeout_s
        )
        if fresh:
            self._lost_since = None
            self._ever_followed = True
            if self._pending is not None:
                self._command, self._status = self._control(self._pending)
                self._pending = None
            st = Status(**{**self._status.__dict__, "target_age_s": st.target_age_s})
            st.state, st.engaged = FollowState.FOLLOWING, True
            return self._command, st
        return self._not_following(now, st)

    def _not_following(self, now: float, st: Status) -> tuple[Command, Status]:
        self._valid, self._pending, self._command = None, None, Command()
        for pid in self.pid.values():
            pid.reset()
        if self._tracker_idle or not self._ever_followed:
            st.state = FollowState.IDLE
            st.message = (
                "no target selected"
                if self._tracker_idle or self._last_arrival is None
                else (self._reject or "waiting for a valid target")
            )
            return Command(), st
        if self._lost_since is None:
            self._lost_since = now
        lost_for = now - self._lost_since
        reason = self._reject or (
            "no tracked_object within input_timeout_s" if self._last_arrival is not None else "no input"
        )
        if lost_for >= self.p.idle_after_s:
            st.state, st.message = FollowState.IDLE, f"gave up after {lost_for:.1f} s lost ({reason})"
            return Command(), st
        if self.p.search_after_s > 0.0 and lost_for >= self.p.search_after_s:
            rate = -math.copysign(self.p.search_rate, self._last_azimuth)
            st.state, st.message = FollowState.SEARCHING, f"searching ({reason})"
            if self.p.mode == "gimbal":
                return Command(gimbal_yaw_rate=rate), st
            return Command(yaw_rate=rate), st
        st.state, st.message = FollowState.LOST, f"holding ({reason})"
        return Command(), st

    def _reset_target(self) -> None:
        for pid in getattr(self, "pid", {}).values():
            pid.reset()
        self.size_gate.reset()
        self._valid: Observation | None = None
        self._pending: Observation | None = None
        self._last_arrival: float | None = None
        self._last_stamp: float | None = None
        self._lost_since: float | None = None
        self._ever_followed = False
        self._tracker_idle = False
        self._target_id = 0
        self._reject = ""
        self._last_azimuth = 0.0
        self._command = Command()
        self._status = Status()

    def _gimbal_feedback(self) -> tuple[float, float] | None:
        g = self._gimbal
        if g is None or self._last_arrival is None or abs(self._last_arrival - g[2]) > self.p.gimbal_feedback_timeout_s:
            return None
        return g[0], g[1]

    def _control(self, obs: Observation) -> tuple[Command, Status]:
        p = self.p
        nominal = 1.0 / p.rate_hz
        dt = nominal if self._last_stamp is None else obs.stamp - self._last_stamp
        if not 0.0 < dt <= 5.0 * p.input_timeout_s:
            dt = nominal
        self._last_stamp = obs.stamp
        cam = self._camera_for(obs)
        if cam is None:  # observe() had one; a camera_info since then made it unusable
            for q in self.pid.values():
                q.reset()
            st = Status(state=FollowState.FOLLOWING, engaged=True)
            st.message = "no usable camera model since the last box; holding zero"
            return Command(), st
        x, y, w, h = obs.box
        xn, yn = cam.normalized(x + w / 2.0, y + h / 2.0)
        _, top = cam.normalized(x + w / 2.0, y)
        _, bottom = cam.normalized(x + w / 2.0, y + h)
        err_x, err_y = ray_angles(xn, yn)
        fb = self._gimbal_feedback()
        cam_pitch, gimbal_yaw = fb if fb is not None else (p.camera_pitch, 0.0)
        azimuth, elevation = ray_angles(xn, yn, cam_pitch)  # relative to the camera's heading
        self._last_azimuth = azimuth - gimbal_yaw  # relative to the body
        angle = math.atan(bottom) - math.atan(top)
        if p.box_height > 0.0:
            size = p.standoff_distance * p.box_height * cam.height / cam.fy  # implied target height
        else:
            size = p.target_height
        rng = subtended_range(angle, size) if angle > 0.0 and size > 0.0 else math.nan
        st = Status(state=FollowState.FOLLOWING, engaged=True, error_x=err_x, error_y=err_y, distance=rng)
        st.distance_error = rng - p.standoff_distance if math.isfinite(rng) else 0.0
        sat = {"yaw": False, "pitch": False, "forward": False, "vertical": False}
        cmd: dict[str, float] = {}
        pid = self.pid
        if p.gimbal_enabled:
            cmd["gimbal_pitch_rate"] = pid["gimbal_pitch"].update(0.0, cam_pitch - elevation, dt)
            sat["pitch"] = pid["gimbal_pitch"].saturated
        if p.mode == "gimbal":
            cmd["gimbal_yaw_rate"] = pid["gimbal_yaw"].update(0.0, azimuth, dt)
            sat["yaw"] = pid["gimbal_yaw"].saturated
        else:
            if p.gimbal_enabled and fb is not None:
                lim = p.gimbal_max_rate
                cmd["gimbal_yaw_rate"] = clamp(-p.gimbal_recenter_gain * gimbal_yaw, -lim, lim)
            cmd["yaw_rate"] = pid["yaw"].update(0.0, azimuth - gimbal_yaw, dt)
            sat["yaw"] = pid["yaw"].saturated
        if p.mode == "follow" and math.isfinite(rng):
            height = rng * math.sin(elevation)  # of the camera above the target's centre
            horiz = rng * math.cos(elevation)
            if p.vertical_enabled:
                want_h = p.standoff_distance * math.sin(p.standoff_elevation)
                want_d = p.standoff_distance * math.cos(p.standoff_elevation)
                cmd["vz"] = pid["vertical"].update(want_h, height, dt)
                sat["vertical"] = pid["vertical"].saturated
            else:
                want_d = math.sqrt(max(0.0, p.standoff_distance**2 - height**2))
            # Forward speed only helps while the target is ahead: fade it out with the bearing.
            ahead = max(0.0, math.cos(azimuth - gimbal_yaw))
            cmd["vx"] = ahead * pid["forward"].update(-want_d, -horiz, dt)
            sat["forward"] = pid["forward"].saturated
        st.saturated = sat
        command = Command(**cmd)
        if not _finite(*command.__dict__.values()):
            for q in pid.values():
                q.reset()
            st.message = "non-finite command computed; holding zero"
            return Command(), st
        st.message = f"following target {self._target_id}"
        return command, st
