"""Closed loop in one process: simulator -> tracker (or ground truth) -> controller -> simulator.

The same cores the nodes run, stepped in lockstep at the camera rate, so a run is
deterministic. Each frame's measurement reaches the controller ``latency`` seconds after
capture, and its command acts until the next frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..control.camera import CameraModel
from ..control.follow import Command, FollowController, Observation, Status
from ..tracking.tracker import Tracker, TrackState
from .world import Frame, Simulator

TRACKING, LOST = int(TrackState.TRACKING), int(TrackState.LOST)
CLOCK_START = 1000.0  # stamps = this + simulated time (a zero stamp means 'unset' in ROS)


@dataclass
class Sample:
    """What one frame produced (for metrics, plots and the video)."""

    t: float
    gt_box: tuple[float, float, float, float] | None
    gt_in_image: float
    gt_unoccluded: float
    box: tuple[float, float, float, float] | None  # what the controller was given
    track_state: int
    score: float
    distance: float  # true camera-to-target distance [m]
    command: Command
    status: Status


@dataclass
class LoopResult:
    samples: list[Sample] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)


def oracle_observation(frame: Frame, stamp: float) -> Observation:
    """The ground-truth box as a tracker would report it (LOST while mostly hidden)."""
    v = frame.target
    box = v.box if v.box is not None else (0.0, 0.0, 0.0, 0.0)
    state = TRACKING if frame.target_tracked else LOST
    h, w = frame.image.shape[:2]
    return Observation(stamp, state, 1, box, float(v.visible), w, h)


def run_loop(
    sim: Simulator,
    controller: FollowController,
    duration: float,
    fps: float,
    tracker: Tracker | None = None,
    latency: float = 0.03,
    on_frame: Callable[[Frame, Sample], None] | None = None,
) -> LoopResult:
    """Engage, initialise the tracker on the ground-truth box of the first frame (as an
    operator would), then run ``duration`` seconds.
    """
    result = LoopResult()
    dt = 1.0 / fps
    k_mat = sim.camera.k
    controller.set_camera(
        CameraModel(k_mat[0, 0], k_mat[1, 1], k_mat[0, 2], k_mat[1, 2], sim.camera.width, sim.camera.height)
    )
    controller.engage(True, CLOCK_START + sim.t)
    n = int(round(duration * fps))
    for k in range(n + 1):
        frame = sim.render()
        h, w = frame.image.shape[:2]
        result.image_size = (w, h)
        stamp = CLOCK_START + frame.t
        if tracker is None:
            obs = oracle_observation(frame, stamp)
        else:
            if k == 0:
                if frame.target.box is None:
                    raise RuntimeError("the target is not in view at the start of the scenario")
                tracker.init(frame.image, frame.target.box)
                box, score, state = tracker.box, 1.0, TRACKING
            else:
                res = tracker.update(frame.image)
                box, score, state = res.box, res.score, int(res.state)
            obs = Observation(stamp, state, 1, tuple(box), score, w, h)
        now = stamp + latency
        s = frame.state
        controller.set_gimbal_attitude(s.gimbal_pitch, s.gimbal_yaw, now)
        controller.observe(obs, now)
        command, status = controller.step(now)
        sample = Sample(
            frame.t,
            frame.target.box,
            frame.target.in_image,
            frame.target.unoccluded,
            obs.box if obs.state == TRACKING else None,
            obs.state,
            obs.score,
            frame.target.distance,
            command,
            status,
        )
        result.samples.append(sample)
        if on_frame is not None:
            on_frame(frame, sample)
        if k < n:
            sim.step(command, dt)
    return result


def iou(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> float:
    if a is None or b is None:
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    frames: int
    counted_frames: int  # frames where the target is not mostly hidden behind an occluder
    tracked_frames: int
    late_frames: int  # frames after settle_s
    tracked: float  # fraction of counted frames with IoU(box, ground truth) > 0.5
    centred: float  # fraction of tracked frames with the target centre within 10 % of the width
    standoff: float  # fraction of frames after settle_s with |distance - set-point| <= 20 %
    mean_centre_error_px: float
    mean_distance_error_m: float


def summarize(result: LoopResult, standoff_m: float, settle_s: float = 5.0) -> Summary:
    w, h = result.image_size
    counted = [s for s in result.samples if s.gt_unoccluded >= 0.5]
    tracked = [s for s in counted if iou(s.box, s.gt_box) > 0.5]
    centre_err = []
    for s in tracked:
        x, y, bw, bh = s.gt_box
        centre_err.append(math.hypot(x + bw / 2 - w / 2, y + bh / 2 - h / 2))
    late = [s for s in result.samples if s.t >= settle_s]
    dist_err = [abs(s.distance - standoff_m) for s in late]
    return Summary(
        frames=len(result.samples),
        counted_frames=len(counted),
        tracked_frames=len(tracked),
        late_frames=len(late),
        tracked=len(tracked) / max(1, len(counted)),
        centred=sum(e <= 0.1 * w for e in centre_err) / max(1, len(tracked)),
        standoff=sum(e <= 0.2 * standoff_m for e in dist_err) / max(1, len(late)),
        mean_centre_error_px=sum(centre_err) / max(1, len(centre_err)),
        mean_distance_error_m=sum(dist_err) / max(1, len(dist_err)),
    )
