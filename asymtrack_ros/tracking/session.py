"""A tracking session between a camera stream and a tracker, free of ROS.

Frames arrive faster than a model may run and selections arrive late (an operator
clicks on a frame seen some time ago). So producers (subscription callbacks) only
hand frames and selections over; one worker thread calls ``step()``, which runs the
model on the newest frame only (older unprocessed ones are dropped and counted), and
initialises a selection on the buffered frame its stamp names, then catches up
through the newer buffered frames before going live again. A selection that comes
before any frame (a selection topic often connects before the image topic) is held
and applied, with the same stamp rule, once the first frame is in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable

import numpy as np

from .selection import PointBoxParams, SelectionError, box_around_point, to_pixels, validate_box, validate_point
from .tracker import Tracker, TrackState

log = logging.getLogger(__name__)

Warn = Callable[[str, str], None]  # (key, message): the key lets callers throttle per kind
HELD_MAX = 8  # selections held before the first frame; older ones are superseded


def _log_warn(key: str, message: str) -> None:
    log.warning("%s", message)


class Command(IntEnum):
    """Values equal the ``TargetSelection`` message constants."""

    SELECT_BOX = 0
    SELECT_POINT = 1
    STOP = 2


@dataclass(frozen=True)
class Selection:
    command: int
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0
    normalized: bool = False
    stamp_ns: int = 0  # stamp of the frame the operator selected on; 0: the latest frame
    source: str = "select"  # where it came from, for messages


class Frame:
    """A received image, decoded lazily: only frames the worker uses are converted."""

    __slots__ = ("stamp_ns", "header", "received", "seq", "_loader", "_image", "_error")

    def __init__(
        self, stamp_ns: int, header: Any, received: float, image: np.ndarray | Callable[[], np.ndarray]
    ) -> None:
        self.stamp_ns = stamp_ns
        self.header = header  # opaque to the session; copied to the output
        self.received = received  # time.monotonic() at reception
        self.seq = -1  # assigned by the session, increasing
        self._loader = None if isinstance(image, np.ndarray) else image
        self._image = image if isinstance(image, np.ndarray) else None
        self._error: ValueError | None = None

    def image(self) -> np.ndarray:
        """The BGR uint8 HxWx3 image; raises ValueError (every time) if it cannot be decoded."""
        if self._image is None:
            if self._error is None:
                try:
                    self._image = self._loader()
                except ValueError as err:
                    self._error = err
            if self._error is not None:
                raise self._error
            self._loader = None
        return self._image


@dataclass(frozen=True)
class FrameResult:
    frame: Frame
    state: TrackState
    target_id: int
    box: tuple[float, float, float, float] | None  # None while IDLE
    score: float
    engine_s: float  # time spent in the tracker for this frame (0 when it did not run)


@dataclass
class SessionStats:
    received: int = 0
    processed: int = 0  # frames with a result
    dropped: int = 0  # frames replaced before the worker took them
    rejected: int = 0  # undecodable frames and unusable selections
    last_init_stamp_ns: int = -1  # stamp of the frame the last target was initialised on
    last_init_match: str = ""  # "exact", "nearest", "latest" or "unknown stamp"
    last_catchup_frames: int = 0


class TrackingSession:
    def __init__(
        self,
        tracker: Tracker,
        buffer_length: int = 30,
        stamp_tolerance_ns: int = 20_000_000,
        point_box: PointBoxParams | None = None,
        warn: Warn = _log_warn,
        info: Callable[[str], None] = log.info,
    ) -> None:
        if buffer_length < 1 or stamp_tolerance_ns < 0:
            raise ValueError("need buffer_length >= 1 and stamp_tolerance_ns >= 0")
        self.tracker = tracker
        self.stamp_tolerance_ns = stamp_tolerance_ns
        self.point_box = point_box or PointBoxParams()
        self.target_id = 0
        self.stats = SessionStats()
        self._warn = warn
        self._info = info
        self._cond = threading.Condition()
        self._buffer: deque[Frame] = deque(maxlen=buffer_length)
        self._slot: Frame | None = None  # newest frame not taken by the worker yet
        self._pending: deque[Selection] = deque()
        self._held: deque[Selection] = deque(maxlen=HELD_MAX)  # selections that came before any frame
        self._seq = 0
        self._last_output_seq = -1  # newest frame that got a result (or was dropped behind one)
        self._closed = False

    # -- producers (any thread) -------------------------------------------------------

    def submit(self, frame: Frame) -> None:
        with self._cond:
            if self._closed:
                return
            frame.seq = self._seq
            self._seq += 1
            self.stats.received += 1
            if self._slot is not None:
                self.stats.dropped += 1
            self._slot = frame
            self._buffer.append(frame)
            self._pending.extendleft(reversed(self._held))  # they came before anything pending
            self._held.clear()
            self._cond.notify()

    def select(self, selection: Selection) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending.append(selection)
            self._cond.notify()

    def close(self) -> None:
        """Shutdown: refuse frames and selections from now on, wake a waiting ``step()`` and
        cut short a catch-up under way, so that the worker ends after at most one model run.
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- the worker -----------------------------------------------------------------

    def step(self, timeout: float | None = None) -> list[FrameResult]:
        """Wait up to ``timeout`` for work; apply pending selections, then process the
        newest frame. Returns the results to publish, oldest first.
        """
        with self._cond:
            if not (self._pending or self._slot is not None or self._closed):
                self._cond.wait(timeout)
            commands = list(self._pending)
            self._pending.clear()
        results: list[FrameResult] = []
        for command in commands:
            result = self._apply(command)
            if result is not None:
                results.append(result)
        with self._cond:
            frame, self._slot = self._slot, None
        if frame is not None and frame.seq > self._last_output_seq:
            result = self._process(frame)
            if result is not None:
                results.append(result)
        return results

    def _process(self, frame: Frame) -> FrameResult | None:
        try:
            image = frame.image()
        except ValueError as err:
            with self._cond:  # selections must not pick it either
                if frame in self._buffer:
                    self._buffer.remove(frame)
            self._reject("frame", f"dropping an undecodable image: {err}")
            return None
        self._last_output_seq = frame.seq
        engine_s = 0.0
        if self.tracker.state == TrackState.IDLE:
            box, score, state = None, 0.0, TrackState.IDLE
        else:
            t0 = time.perf_counter()
            r = self.tracker.update(image)
            engine_s = time.perf_counter() - t0
            box, score, state = r.box, r.score, r.state
        self.stats.processed += 1
        return FrameResult(frame, state, self.target_id, box, score, engine_s)

    def _reject(self, key: str, message: str) -> None:
        self.stats.rejected += 1
        self._warn(key, message)

    def _apply(self, sel: Selection) -> FrameResult | None:
        if sel.command == Command.STOP:
            if self.tracker.state == TrackState.IDLE:
                self._reject("stop", f"STOP from {sel.source} while idle: ignored")
            else:
                self.tracker.reset()
                self._info(f"target {self.target_id} released (STOP from {sel.source})")
            return None
        if sel.command not in (Command.SELECT_BOX, Command.SELECT_POINT):
            self._reject("command", f"unknown selection command {sel.command} from {sel.source}: ignored")
            return None
        with self._cond:  # under the lock: a frame arriving now finds it held
            frames = list(self._buffer)
            pending_seq = self._slot.seq if self._slot is not None else None
            if not frames:
                if len(self._held) == self._held.maxlen:
                    self._reject("held", f"selection from {self._held[0].source} superseded before any image")
                self._held.append(sel)
                self._info(f"selection from {sel.source} before any image: held for the first one")
                return None
        frame, match = self._match(frames, sel.stamp_ns)
        try:
            image = frame.image()
            box = self._box(sel, image)
            self.tracker.init(image, box)  # a bad box leaves the tracker unchanged
        except ValueError as err:
            self._reject("selection", f"selection from {sel.source} ignored: {err}")
            return None
        catchup = [f for f in frames if frame.seq < f.seq and f.seq != pending_seq]
        for f in catchup:
            if self._closed:
                break
            try:
                self.tracker.update(f.image())
            except ValueError:
                continue  # undecodable frames were (or will be) reported when processed live
        self.stats.last_init_stamp_ns = frame.stamp_ns
        self.stats.last_init_match = match
        self.stats.last_catchup_frames = len(catchup)
        self.target_id += 1  # after the stats: readers seeing the new id see its stats
        self._info(
            f"target {self.target_id}: {Command(sel.command).name} from {sel.source} at "
            f"({box[0]:.0f}, {box[1]:.0f}, {box[2]:.0f}, {box[3]:.0f}) on frame {frame.stamp_ns} ns ({match}), "
            f"caught up through {len(catchup)} frames"
        )
        if frame.seq == pending_seq:
            # The newest frame itself: it gets its result now.
            with self._cond:
                if self._slot is frame:
                    self._slot = None
                else:  # a newer frame replaced it meanwhile and counted it dropped: it was not
                    self.stats.dropped -= 1
            self._last_output_seq = frame.seq
            self.stats.processed += 1
            return FrameResult(frame, self.tracker.state, self.target_id, self.tracker.box, 1.0, 0.0)
        return None

    def _match(self, frames: list[Frame], stamp_ns: int) -> tuple[Frame, str]:
        """The buffered frame a selection refers to: exact stamp, else the nearest within
        the tolerance, else (zero or unknown stamp) the latest.
        """
        if stamp_ns == 0:
            return frames[-1], "latest"
        nearest = min(reversed(frames), key=lambda f: abs(f.stamp_ns - stamp_ns))
        diff = abs(nearest.stamp_ns - stamp_ns)
        if diff == 0:
            return nearest, "exact"
        if diff <= self.stamp_tolerance_ns:
            return nearest, "nearest"
        return frames[-1], "unknown stamp"

    def _box(self, sel: Selection, image: np.ndarray) -> tuple[float, float, float, float]:
        h, w = image.shape[:2]
        x, y, bw, bh = to_pixels(sel.x, sel.y, sel.width, sel.height, sel.normalized, w, h)
        if sel.command == Command.SELECT_POINT:
            x, y = validate_point(x, y, w, h)
            box, _ = box_around_point(image, x, y, self.point_box)
            return box
        return validate_box((x, y, bw, bh), w, h)


__all__ = ["Command", "Frame", "FrameResult", "Selection", "SelectionError", "SessionStats", "TrackingSession"]
