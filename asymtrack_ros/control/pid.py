"""Per-axis PID for visual servoing.

Derivative on the (filtered) measurement, so set-point changes do not kick the output;
continuous dead-band (no step at its edge); conditional integration as anti-windup
(the integrator freezes while the output is held at a limit by the error's own sign);
saturation and slew-rate limits on the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PidGains:
    kp: float
    ki: float = 0.0
    kd: float = 0.0
    i_limit: float = math.inf  # largest |integral term| [output units]
    deadband: float = 0.0  # errors this small count as zero [error units]
    d_tau: float = 0.05  # derivative low-pass time constant [s]
    meas_tau: float = 0.0  # measurement low-pass time constant [s] (0: none)


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def deadband(e: float, band: float) -> float:
    """Shrinks |e| by ``band`` (continuous at the band's edge)."""
    if abs(e) <= band:
        return 0.0
    return e - math.copysign(band, e)


def lowpass(prev: float, x: float, dt: float, tau: float) -> float:
    return x if tau <= 0.0 else prev + (x - prev) * dt / (tau + dt)


class Pid:
    """``update`` once per new measurement (dt: time since the previous one, or the nominal
    period for the first); output limited to [out_min, out_max] and to ``slew`` units per
    second of change, starting from zero after ``reset``.
    """

    def __init__(self, gains: PidGains, out_min: float, out_max: float, slew: float = math.inf) -> None:
        if not out_min <= 0.0 <= out_max:
            raise ValueError("output limits must bracket zero")
        self.gains, self.out_min, self.out_max, self.slew = gains, out_min, out_max, slew
        self.reset()

    def reset(self) -> None:
        """Forget all state; the output restarts from zero (used after zeroing the command)."""
        self.integral = 0.0
        self.output = 0.0
        self.saturated = False
        self._y: float | None = None
        self._d = 0.0

    def update(self, setpoint: float, measurement: float, dt: float) -> float:
        g = self.gains
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        first = self._y is None
        y = measurement if first else lowpass(self._y, measurement, dt, g.meas_tau)
        if not first:
            self._d = lowpass(self._d, -(y - self._y) / dt, dt, g.d_tau)
        self._y = y
        e = deadband(setpoint - y, g.deadband)
        p, d = g.kp * e, g.kd * self._d
        integral = self.integral
        if not first:
            integral = clamp(integral + g.ki * e * dt, -g.i_limit, g.i_limit)
        lo, hi = self.out_min, self.out_max
        if math.isfinite(self.slew):
            lo, hi = max(lo, self.output - self.slew * dt), min(hi, self.output + self.slew * dt)
        raw = p + integral + d
        out = clamp(raw, lo, hi)
        if out != raw and (raw - out) * e > 0.0:
            # Anti-windup: integrating would push further into the limit.
            integral = self.integral
            out = clamp(p + integral + d, lo, hi)
        self.integral = integral
        self.saturated = out != raw
        self.output = out
        return out
