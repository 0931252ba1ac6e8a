"""The simulated world: scenario actors, the vehicle and its camera, stepped in lockstep.

Deterministic: the same seed, scenario and command sequence give the same images and
states. Time advances only through ``step``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..control.follow import Command
from .dynamics import VehicleLimits, VehicleState, step_vehicle
from .render import CameraSpec, ObjectView, Renderer
from .scenario import Scenario, default_scenario

VISIBLE_FOR_TRACKING = 0.5  # ground truth counts as TRACKING from this visible fraction


@dataclass(frozen=True)
class Frame:
    t: float
    image: np.ndarray  # BGR
    state: VehicleState
    views: dict[str, ObjectView]
    target: ObjectView

    @property
    def target_tracked(self) -> bool:
        return self.target.box is not None and self.target.visible >= VISIBLE_FOR_TRACKING


class Simulator:
    def __init__(
        self,
        scenario: Scenario | None = None,
        camera: CameraSpec | None = None,
        limits: VehicleLimits | None = None,
        seed: int = 0,
        physics_dt: float = 0.005,
        hold_until_command: bool = False,
    ) -> None:
        """``hold_until_command``: the actors wait for the first non-zero command (the follower
        engaging), however long the other nodes take to start.
        """
        self.scenario = scenario or default_scenario()
        self.camera = camera or CameraSpec()
        self.limits = limits or VehicleLimits()
        self.physics_dt = physics_dt
        self.renderer = Renderer(self.scenario, self.camera, seed)
        self.t = 0.0  # simulated time
        self.scenario_t = 0.0  # the actors' time (lags t while holding)
        self.holding = hold_until_command
        self.state = self.initial_state()

    def initial_state(self) -> VehicleState:
        """Behind and above the target, looking at it."""
        sc = self.scenario
        x, y, hd = sc.actor(sc.target).pose(0.0)
        back, side, up = sc.start_offset
        c, s = math.cos(hd), math.sin(hd)
        pos = np.array([x + c * back - s * side, y + s * back + c * side, up])
        centre_z = sc.actor(sc.target).height / 2.0
        pitch = math.atan2(up - centre_z, math.hypot(back, side))
        yaw = math.atan2(y - pos[1], x - pos[0])
        return VehicleState(pos, yaw, np.zeros(3), gimbal_pitch=pitch)

    def step(self, command: Command, dt: float) -> None:
        """Advance dt seconds holding ``command``."""
        n = max(1, int(math.ceil(dt / self.physics_dt - 1e-9)))
        for _ in range(n):
            self.state = step_vehicle(self.state, command, dt / n, self.limits)
        self.t += dt
        self.holding = self.holding and command.is_zero()
        if not self.holding:
            self.scenario_t += dt

    def render(self) -> Frame:
        image, views = self.renderer.render(self.state, self.scenario_t)
        return Frame(self.t, image, self.state.copy(), views, views[self.scenario.target])
