"""Plausibility gate on the tracked box's size.

A tracker that drifts onto the background or a distractor often keeps reporting TRACKING
with a good score, but its box changes size abruptly. The follower turns box height into
distance, so such a jump becomes a dash towards or away from nothing. The gate compares each
box height with a slow average of the accepted ones and refuses sudden jumps. Refused boxes
do not move the average: a wrong box that persists stays refused (the follower holds, then
gives up) until the box returns to the target's size or the operator selects again. A real
approach changes the size smoothly and the average follows it.

A drift often creeps before it jumps (the box spreads over the target and a passing
look-alike), and the average follows the creep. When a jump is refused, the average is
therefore rolled back to its value two time constants earlier, before the creep: the
target's own box, once the tracker is back on it, then passes again.
"""

from __future__ import annotations

import math
from collections import deque


class SizeGate:
    def __init__(self, max_jump: float, tau_s: float) -> None:
        """``max_jump``: largest accepted ratio between a box height and the average
        (0 disables the gate); ``tau_s``: time constant of the average.
        """
        if max_jump != 0.0 and max_jump <= 1.0:
            raise ValueError("max_jump must be > 1 (or 0 to disable)")
        self.log_limit = math.log(max_jump) if max_jump else math.inf
        self.tau_s = tau_s
        self.reset()

    def reset(self) -> None:
        self._mean: float | None = None  # log of the average box height
        self._time: float | None = None
        self._history: deque[tuple[float, float]] = deque()  # (time, mean) back to 2 tau ago
        self._refusing = False

    def check(self, height: float, now: float) -> float:
        """Ratio of ``height`` to the average (>= 1, either direction); an accepted height
        (ratio within ``max_jump``) is folded into the average.
        """
        value = math.log(height)
        if self._mean is None or self._time is None or now < self._time:
            self._mean, self._time, self._refusing = value, now, False
            self._history = deque([(now, value)])
            return 1.0
        jump = abs(value - self._mean)
        if jump > self.log_limit and not self._refusing:  # a new refusal: undo the creep
            self._refusing = True
            self._mean = self._history[0][1]
            jump = abs(value - self._mean)
        if jump <= self.log_limit:
            alpha = 1.0 - math.exp(-(now - self._time) / self.tau_s) if self.tau_s > 0 else 1.0
            self._mean += alpha * (value - self._mean)
            self._time, self._refusing = now, False
            self._history.append((now, self._mean))
            while len(self._history) > 1 and self._history[1][0] <= now - 2.0 * self.tau_s:
                self._history.popleft()
        return math.exp(jump)

    def rejects(self, ratio: float) -> bool:
        return math.log(ratio) > self.log_limit
