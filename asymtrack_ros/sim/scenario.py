"""Scenario description: actors moving along smoothed paths with a speed schedule.

The default scenario (about 60 s) has the followed van drive with turns, speed changes
and a stop; a look-alike van passes it in the other lane (distractor); it drives under
a sign gantry that hides it from the follower for about a second (occluder); trees line
the road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def chaikin(points: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Corner cutting: rounds every turn of a polyline (ends kept)."""
    p = np.asarray(points, np.float64)
    for _ in range(iterations):
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        p = np.concatenate([p[:1], np.stack([q, r], 1).reshape(-1, 2), p[-1:]])
    return p


@dataclass
class Path:
    """A polyline in metres (ENU x, y) with a speed schedule [(t, v), ...] (linear in between)."""

    waypoints: list[tuple[float, float]]
    speeds: list[tuple[float, float]]
    start_s: float = 0.0  # arc length at t = 0 [m]
    pts: np.ndarray = field(init=False, repr=False)
    arc: np.ndarray = field(init=False, repr=False)
    _ts: np.ndarray = field(init=False, repr=False)
    _vs: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pts = chaikin(np.array(self.waypoints, np.float64))
        seg = np.hypot(*np.diff(self.pts, axis=0).T)
        self.arc = np.concatenate([[0.0], np.cumsum(seg)])
        self._ts = np.array([s[0] for s in self.speeds], np.float64)
        self._vs = np.array([s[1] for s in self.speeds], np.float64)
        if np.any(np.diff(self._ts) <= 0):
            raise ValueError("speed schedule times must increase")

    @property
    def length(self) -> float:
        return float(self.arc[-1])

    def distance(self, t: float) -> float:
        """Arc length travelled at time t (exact integral of the piecewise-linear speed)."""
        ts, vs = self._ts, self._vs
        if t <= ts[0]:
            return self.start_s + vs[0] * t
        grid = np.concatenate([ts[ts < t], [t]])
        vg = np.interp(grid, ts, vs)
        travelled = vs[0] * ts[0] + float(np.sum((vg[1:] + vg[:-1]) * np.diff(grid) / 2.0))
        return self.start_s + travelled

    def pose(self, t: float) -> tuple[float, float, float]:
        """x, y [m] and heading [rad, CCW from east] at time t (clamped to the path's end)."""
        s = min(max(self.distance(t), 0.0), self.length)
        i = int(np.clip(np.searchsorted(self.arc, s) - 1, 0, len(self.arc) - 2))
        a = (s - self.arc[i]) / max(self.arc[i + 1] - self.arc[i], 1e-9)
        p = self.pts[i] * (1 - a) + self.pts[i + 1] * a
        d = self.pts[i + 1] - self.pts[i]
        return float(p[0]), float(p[1]), math.atan2(d[1], d[0])


@dataclass
class Actor:
    name: str
    kind: str  # "van" (moving, view-dependent sprite), "tree" (static, faces the camera) or "gantry" (static,
    # a sign over the road on two posts, fixed in the world: its face is across ``heading``)
    height: float  # [m]
    width: float  # front width (van) or width (tree) [m]
    length: float = 0.0  # van length [m]
    path: Path | None = None
    position: tuple[float, float] = (0.0, 0.0)  # static actors
    heading: float = 0.0  # static actors [rad]
    color: tuple[int, int, int] = (40, 60, 200)  # BGR
    number: int = 0

    def pose(self, t: float) -> tuple[float, float, float]:
        if self.path is None:
            return self.position[0], self.position[1], self.heading
        return self.path.pose(t)


@dataclass
class Scenario:
    actors: list[Actor]
    target: str  # name of the followed actor
    duration: float
    start_offset: tuple[float, float, float] = (-16.0, 0.0, 9.0)  # vehicle start behind/above the target [m]
    start_gimbal_pitch_deg: float = 30.0
    roads: list[np.ndarray] = field(default_factory=list)

    def actor(self, name: str) -> Actor:
        return next(a for a in self.actors if a.name == name)


def default_scenario() -> Scenario:
    """~60 s: straight, speed-up, left bend, slow S-bend, stop and go; distractor and trees."""
    route = [(0, 0), (70, 0), (100, 25), (100, 60), (80, 85), (95, 110), (140, 115), (175, 95), (190, 60), (185, 20)]
    target_speeds = [
        (0, 3.0),
        (6, 3.0),
        (10, 6.0),
        (20, 6.0),
        (24, 2.5),
        (31, 2.5),
        (35, 5.0),
        (44, 5.0),
        (46, 0.0),
        (49, 0.0),
        (52, 4.0),
        (70, 4.0),
    ]
    centre = chaikin(np.array(route, np.float64))
    target = Actor(
        "target",
        "van",
        2.0,
        1.9,
        4.5,
        Path(lane_offset(centre, 2.5).tolist(), target_speeds, start_s=20.0),
        color=(40, 70, 200),
        number=17,
    )
    # Look-alike in the other lane: meets the target on the first straight, then again
    # near the end (it keeps driving back along the route).
    lane = lane_offset(centre, -2.5)[::-1]
    distractor = Actor(
        "distractor",
        "van",
        2.0,
        1.9,
        4.5,
        Path(lane.tolist(), [(0, 5.5), (70, 5.5)], start_s=95.0),
        color=(50, 80, 190),
        number=71,
    )
    trees = [
        Actor(f"tree{i}", "tree", h, w, position=p)
        for i, (p, h, w) in enumerate(
            [
                ((92.0, 12.0), 9.0, 6.0),
                ((88.0, 68.0), 8.0, 6.0),
                ((110.0, 100.0), 8.5, 6.5),
                ((168.0, 101.0), 9.0, 7.0),
                ((40.0, 9.0), 7.0, 5.0),
                ((60.0, -9.0), 8.0, 5.5),
                ((176.0, 55.0), 8.0, 6.0),
            ]
        )
    ]
    # A sign gantry across the first straight: the van drives under it while the follower,
    # behind and above, looks through the sign.
    gantry = Actor("gantry", "gantry", 7.0, 14.0, position=(48.0, 0.0), heading=math.pi / 2)
    return Scenario([target, distractor, gantry, *trees], "target", 60.0, roads=[centre])


def lane_offset(pts: np.ndarray, d: float) -> np.ndarray:
    """Polyline shifted by d to its right."""
    tang = np.gradient(pts, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    return pts + d * np.stack([tang[:, 1], -tang[:, 0]], axis=1)
