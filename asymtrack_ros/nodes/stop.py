"""The signals that end a node process: SIGINT and SIGTERM only ask it to stop.

The node's main thread then shuts down in order (run.py). Ctrl-C in a terminal reaches
every process of its group while ``ros2 launch`` forwards another SIGINT, so more signals
arrive during cleanup: they are ignored instead of raising KeyboardInterrupt in the middle
of it. Free of ROS imports: the node launchers install it before importing anything
heavy, so that Ctrl-C during start-up is a stop request like any other.
"""

from __future__ import annotations

import signal
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Records the first SIGINT or SIGTERM once installed; true from then on."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._installed = False

    def install(self) -> StopRequest:
        if not self._installed:
            for sig in SIGNALS:
                signal.signal(sig, self._on_signal)
            self._installed = True
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signum

    def ignore_from_now_on(self) -> None:
        """At the very end: a late signal must not kill the process while the interpreter
        tears down (which would put Python's default handlers back). Signals already
        received are handled first (signal.signal does that), so none is lost to a race.
        """
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def __bool__(self) -> bool:
        return self.signal is not None


STOP = StopRequest()  # one per process
