"""Vehicles seen from a chasing aerial camera, rendered by the simulator: training pairs
whose target turns in 3D between the template and the search frame.

The photograph cut-outs of the synthetic source change only by 2D warps, so a network
trained on them keeps the template's shape: a van that turns side-on keeps the box of
its rear view. Here the camera trails the vehicle along its route (by a lag), so every
bend shows it from another side, with look-alikes in traffic and trees that hide it.

Scenes are drawn from (seed, scene index) and built once per process on first use, so a
pair stays a pure function of the sampler's generator. Routes, vehicle sizes, colours,
numbers, ground and camera geometry are all random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..sampling.geometry import crop_patch
from ..sampling.synthetic import SEARCH_VISIBLE, TEMPLATE_VISIBLE
from ..sim.dynamics import VehicleState
from ..sim.render import CameraSpec, Renderer
from ..sim.scenario import Actor, Path, Scenario, chaikin, lane_offset

FRAME_RATE = 10.0  # sequence frames per second: max_gap 200 spans 20 s of driving
DURATION = 90.0  # seconds of driving per scene
TEXTURE_SIZE = 1024  # ground tile texels (tiles repeat; 4x smaller than the demo's: scenes build fast)
MIN_BOX = 8.0  # pixels: smaller targets are too few pixels to learn a shape from


def _route(rng: np.random.Generator) -> np.ndarray:
    """Random drive: straights of 20 to 60 m joined by turns of up to 110 degrees."""
    heading = rng.uniform(-math.pi, math.pi)
    points = [np.zeros(2)]
    for _ in range(int(rng.integers(6, 10))):
        heading += rng.uniform(0.3, 1.9) * rng.choice((-1.0, 1.0))
        step = rng.uniform(20.0, 60.0)
        points.append(points[-1] + step * np.array([math.cos(heading), math.sin(heading)]))
    return np.array(points)


def _speeds(rng: np.random.Generator, low: float, high: float) -> list[tuple[float, float]]:
    times = np.cumsum(rng.uniform(4.0, 12.0, 12))
    return [(0.0, rng.uniform(low, high))] + [(float(t), float(rng.uniform(low, high))) for t in times]


def _vehicle_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(60, 256)]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _vehicle(rng: np.random.Generator, name: str, path: Path) -> Actor:
    """A car, van or truck: sizes vary together with the kind."""
    length = rng.uniform(3.8, 8.0)
    width = rng.uniform(1.7, 2.5)
    height = rng.uniform(1.4, 1.0 + 0.3 * length)
    return Actor(name, "van", height, width, length, path, color=_vehicle_colour(rng), number=int(rng.integers(1, 100)))


def chase_scenario(rng: np.random.Generator) -> Scenario:
    """A route with 2 to 4 vehicles (both lanes, both directions) and trees beside it."""
    centre = chaikin(_route(rng))
    length = float(np.hypot(*np.diff(centre, axis=0).T).sum())
    right, left = lane_offset(centre, 2.5), lane_offset(centre, -2.5)[::-1]
    actors = []
    for i in range(int(rng.integers(2, 5))):
        lane = right if i == 0 or rng.random() < 0.5 else left
        start = rng.uniform(0.0, 0.5 * length)
        actors.append(_vehicle(rng, f"vehicle{i}", Path(lane.tolist(), _speeds(rng, 0.0, 9.0), start_s=start)))
    for i in range(int(rng.integers(3, 12))):
        x, y = centre[int(rng.integers(len(centre)))] + rng.uniform(-14.0, 14.0, 2)
        if np.min(np.hypot(*(centre - (x, y)).T)) > 5.0:  # off the road
            h = rng.uniform(5.0, 10.0)
            actors.append(Actor(f"tree{i}", "tree", h, h * rng.uniform(0.5, 0.9), position=(float(x), float(y))))
    return Scenario(actors, "vehicle0", DURATION, roads=[centre])


@dataclass(frozen=True)
class Chase:
    """Camera geometry for one pair: it trails the target's route by ``lag`` and keeps
    ``back`` metres from that point at a bearing off its heading that drifts by ``orbit``
    (a follower that swings round), so views change through bends and through the drift.
    """

    lag: float  # seconds of route behind the target
    back: float  # metres from that point
    bearing: float  # off the route's heading there (0: straight behind) [rad]
    orbit: float  # bearing drift [rad/s]
    height: float  # metres above ground
    aim: tuple[float, float]  # pointing error (yaw, pitch) [rad]

    @staticmethod
    def random(rng: np.random.Generator) -> Chase:
        return Chase(
            rng.uniform(0.0, 3.0),
            rng.uniform(6.0, 35.0),
            rng.normal(0.0, 0.8),
            rng.normal(0.0, 0.1),
            rng.uniform(3.0, 35.0),
            tuple(rng.uniform(-0.1, 0.1, 2)),
        )


class RenderedFrame:
    """An in-memory BGR frame (the simulator's channel order), cropped as the tracker does."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        return cv2.cvtColor(crop_patch(self.image, cx, cy, side, out_size), cv2.COLOR_BGR2RGB)


class ChaseScene:
    def __init__(self, rng: np.random.Generator, camera: CameraSpec) -> None:
        self.scenario = chase_scenario(rng)
        self.renderer = Renderer(self.scenario, camera, int(rng.integers(2**31)), tex_size=TEXTURE_SIZE)
        self.vehicles = [a for a in self.scenario.actors if a.kind == "van"]

    def camera_state(self, target: Actor, chase: Chase, t: float) -> VehicleState:
        x, y, heading = target.pose(max(t - chase.lag, 0.0))
        angle = heading + chase.bearing + chase.orbit * t
        pos = np.array([x - chase.back * math.cos(angle), y - chase.back * math.sin(angle), chase.height])
        tx, ty, _ = target.pose(t)
        yaw = math.atan2(ty - pos[1], tx - pos[0]) + chase.aim[0]
        pitch = math.atan2(chase.height - target.height / 2.0, math.hypot(tx - pos[0], ty - pos[1])) + chase.aim[1]
        return VehicleState(pos, yaw, np.zeros(3), gimbal_pitch=pitch)

    def frame(self, target: Actor, chase: Chase, t: float) -> tuple[RenderedFrame, np.ndarray, float] | None:
        """The frame, the target's box and its visible fraction; None if it is off-image or tiny."""
        image, views = self.renderer.render(self.camera_state(target, chase, t), t)
        view = views[target.name]
        if view.box is None or min(view.box[2], view.box[3]) < MIN_BOX or view.in_image < 0.99:
            return None
        return RenderedFrame(image), np.array(view.box, np.float64), view.visible


class ChaseSource:
    """``scenes`` random chase scenes (seeded by ``seed``); each pair picks one, one of its
    vehicles as the target, a camera geometry and two times at most ``max_gap`` frames apart.
    """

    name = "chase"
    is_video = True

    def __init__(self, scenes: int = 64, seed: int = 0, width: int = 640, height: int = 480) -> None:
        if scenes < 1:
            raise ValueError("chase source needs scenes >= 1")
        self.count, self.seed = scenes, seed
        self.camera = CameraSpec(width, height, 70.0)
        self._scenes: dict[int, ChaseScene] = {}

    def scene(self, index: int) -> ChaseScene:
        if index not in self._scenes:
            self._scenes[index] = ChaseScene(np.random.default_rng([self.seed, index]), self.camera)
        return self._scenes[index]

    def _target(self, rng: np.random.Generator) -> tuple[ChaseScene, Actor]:
        scene = self.scene(int(rng.integers(self.count)))
        return scene, scene.vehicles[int(rng.integers(len(scene.vehicles)))]

    def sample_pair(self, rng: np.random.Generator, max_gap: int) -> tuple | None:
        scene, target = self._target(rng)
        chase = Chase.random(rng)
        gap = int(rng.integers(1, max_gap + 1)) / FRAME_RATE
        t0 = rng.uniform(0.0, max(DURATION - gap, 0.0))
        first = scene.frame(target, chase, t0)
        if first is None or first[2] < TEMPLATE_VISIBLE:
            return None
        second = scene.frame(target, chase, t0 + gap)
        if second is None or second[2] < SEARCH_VISIBLE:
            return None
        return first[0], first[1], second[0], second[1]

    def sample_frame(self, rng: np.random.Generator) -> tuple | None:
        scene, target = self._target(rng)
        got = scene.frame(target, Chase.random(rng), rng.uniform(0.0, DURATION))
        return None if got is None or got[2] < SEARCH_VISIBLE else (got[0], got[1])
