"""Velocity-controlled multirotor with a stabilised, rate-controlled 2-axis gimbal.

World frame ENU, body frame FLU, yaw counter-clockwise from east. The airframe is kept
level (its tilt while accelerating is not modelled; the gimbal would absorb it anyway).
Commands follow the ROS conventions of the follow controller (see control/follow.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..control.follow import Command
from ..control.pid import clamp


@dataclass(frozen=True)
class VehicleLimits:
    max_speed: float = 10.0  # horizontal [m/s]
    max_vertical_speed: float = 3.0  # [m/s]
    max_accel: float = 4.0  # horizontal [m/s^2]
    max_vertical_accel: float = 2.0  # [m/s^2]
    max_yaw_rate: float = math.radians(90.0)  # [rad/s]
    velocity_tau: float = 0.35  # first-order velocity response [s]
    yaw_tau: float = 0.15  # first-order yaw-rate response [s]
    min_altitude: float = 2.0  # the ground (plus margin) stops descent [m]
    gimbal_tau: float = 0.05  # first-order gimbal-rate response [s]
    gimbal_max_rate: float = math.radians(120.0)  # [rad/s]
    gimbal_pitch_range: tuple[float, float] = (math.radians(-20.0), math.radians(90.0))  # positive = down
    gimbal_yaw_range: tuple[float, float] = (math.radians(-160.0), math.radians(160.0))  # positive = left


@dataclass
class VehicleState:
    pos: np.ndarray  # ENU [m]
    yaw: float  # [rad]
    vel: np.ndarray  # ENU [m/s]
    yaw_rate: float = 0.0
    gimbal_pitch: float = 0.0  # below the horizon [rad]
    gimbal_yaw: float = 0.0  # left of the body axis [rad]
    gimbal_pitch_rate: float = 0.0
    gimbal_yaw_rate: float = 0.0

    def copy(self) -> VehicleState:
        return VehicleState(
            self.pos.copy(),
            self.yaw,
            self.vel.copy(),
            self.yaw_rate,
            self.gimbal_pitch,
            self.gimbal_yaw,
            self.gimbal_pitch_rate,
            self.gimbal_yaw_rate,
        )


def _first_order(x: float, target: float, dt: float, tau: float) -> float:
    return target + (x - target) * math.exp(-dt / tau) if tau > 0.0 else target


def step_vehicle(s: VehicleState, cmd: Command, dt: float, lim: VehicleLimits) -> VehicleState:
    """Advance the state by dt under a command held constant meanwhile (returns a new state)."""
    s = s.copy()
    c, sn = math.cos(s.yaw), math.sin(s.yaw)
    want = np.array([c * cmd.vx - sn * cmd.vy, sn * cmd.vx + c * cmd.vy])
    speed = float(np.hypot(*want))
    if speed > lim.max_speed:
        want *= lim.max_speed / speed
    vz_want = clamp(cmd.vz, -lim.max_vertical_speed, lim.max_vertical_speed)
    a = math.exp(-dt / lim.velocity_tau)
    dv = (want - s.vel[:2]) * (1.0 - a)
    dv_norm = float(np.hypot(*dv))
    if dv_norm > lim.max_accel * dt:
        dv *= lim.max_accel * dt / dv_norm
    dvz = clamp((vz_want - s.vel[2]) * (1.0 - a), -lim.max_vertical_accel * dt, lim.max_vertical_accel * dt)
    s.vel = np.array([s.vel[0] + dv[0], s.vel[1] + dv[1], s.vel[2] + dvz])
    s.pos = s.pos + s.vel * dt
    if s.pos[2] < lim.min_altitude:
        s.pos[2] = lim.min_altitude
        s.vel[2] = max(0.0, s.vel[2])
    r_want = clamp(cmd.yaw_rate, -lim.max_yaw_rate, lim.max_yaw_rate)
    s.yaw_rate = _first_order(s.yaw_rate, r_want, dt, lim.yaw_tau)
    s.yaw = math.remainder(s.yaw + s.yaw_rate * dt, math.tau)
    g = lim.gimbal_max_rate
    s.gimbal_pitch_rate = _first_order(s.gimbal_pitch_rate, clamp(cmd.gimbal_pitch_rate, -g, g), dt, lim.gimbal_tau)
    s.gimbal_yaw_rate = _first_order(s.gimbal_yaw_rate, clamp(cmd.gimbal_yaw_rate, -g, g), dt, lim.gimbal_tau)
    s.gimbal_pitch = clamp(s.gimbal_pitch + s.gimbal_pitch_rate * dt, *lim.gimbal_pitch_range)
    s.gimbal_yaw = clamp(s.gimbal_yaw + s.gimbal_yaw_rate * dt, *lim.gimbal_yaw_range)
    return s


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# Optical frame (x right, y down, z forward) axes expressed in FLU.
FLU_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_rotation(s: VehicleState) -> np.ndarray:
    """World-from-optical rotation of the camera on the stabilised gimbal."""
    return rot_z(s.yaw + s.gimbal_yaw) @ rot_y(s.gimbal_pitch) @ FLU_FROM_OPTICAL
