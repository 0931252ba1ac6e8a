"""Throttled warnings and rolling timing statistics for the nodes (ROS-free).

A flood of bad messages must not flood the log: each kind of warning is printed at
most once per period, with a count of what was suppressed meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Iterable

import numpy as np


class Throttle:
    def __init__(self, emit: Callable[[str], None], period_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self._emit = emit
        self._period = period_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> bool:
        """Emit ``message`` unless a message of this ``key`` was emitted within the period."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._period:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        self._emit(message + (f" ({suppressed} similar suppressed)" if suppressed else ""))
        return True


def percentiles(values: Iterable[float], qs: tuple[float, ...] = (50, 90)) -> tuple[float, ...]:
    """Percentiles of ``values``; NaN for each when there are none."""
    arr = np.fromiter(values, float)
    if arr.size == 0:
        return tuple(float("nan") for _ in qs)
    return tuple(float(v) for v in np.percentile(arr, qs))


class Window:
    """The last ``size`` samples, appended by one thread and read by another."""

    def __init__(self, size: int = 300) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def snapshot(self) -> list[float]:
        with self._lock:
            return list(self._values)
