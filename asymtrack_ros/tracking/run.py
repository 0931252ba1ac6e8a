"""Running a tracker over a whole sequence (CLI, evaluation)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm

from .tracker import Tracker, TrackResult


@dataclass
class SequenceRun:
    boxes: list[tuple[float, ...]] = field(default_factory=list)  # first = the init box
    scores: list[float] = field(default_factory=list)
    states: list[int] = field(default_factory=list)
    update_s: list[float] = field(default_factory=list)  # per-frame tracker time, init excluded


def run_sequence(
    tracker: Tracker,
    frames_bgr: Iterable[np.ndarray],
    init_box: tuple[float, ...],
    total: int | None = None,
    on_frame: Callable[[np.ndarray, TrackResult], None] | None = None,
    progress: bool = True,
) -> SequenceRun:
    """Frames are BGR (as OpenCV decodes); the tracker must have been built with
    ``bgr_input=True`` or receive converted frames.
    """
    run = SequenceRun()
    for i, frame in enumerate(tqdm(frames_bgr, total=total, disable=not progress, unit="frame")):
        if i == 0:
            tracker.init(frame, init_box)
            result = TrackResult(tracker.box, 1.0, tracker.state)
        else:
            t0 = time.perf_counter()
            result = tracker.update(frame)
            run.update_s.append(time.perf_counter() - t0)
        run.boxes.append(result.box)
        run.scores.append(result.score)
        run.states.append(int(result.state))
        if on_frame is not None:
            on_frame(frame, result)
    return run
