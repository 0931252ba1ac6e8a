"""What the operator interfaces show, gathered from the tracker and the follower (ROS-free):
one board fed by the nodes' callbacks, read by the web page and the RViz text marker.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

TRACK_STATES = {0: "IDLE", 1: "TRACKING", 2: "LOST"}
FOLLOW_STATES = {0: "IDLE", 1: "FOLLOWING", 2: "LOST", 3: "SEARCHING", 4: "DISABLED"}


class StatusBoard:
    """Latest tracker output, tracker diagnostics and follower status (thread-safe)."""

    def __init__(self, stale_s: float = 2.0, clock: Any = time.monotonic) -> None:
        self.stale_s = stale_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tracked: dict[str, Any] | None = None
        self._tracked_at = -math.inf
        self._diag: dict[str, str] = {}
        self._diag_at = -math.inf
        self._follow: dict[str, Any] | None = None
        self._follow_at = -math.inf

    def tracked(self, state: int, target_id: int, score: float, latency_ms: float, stamp_ns: int) -> None:
        info = {"state": TRACK_STATES.get(state, str(state)), "target_id": target_id, "score": round(score, 3)}
        info.update(latency_ms=round(latency_ms, 1), stamp_ns=str(stamp_ns))
        with self._lock:
            self._tracked, self._tracked_at = info, self._clock()

    def diagnostics(self, values: dict[str, str]) -> None:
        with self._lock:
            self._diag, self._diag_at = dict(values), self._clock()

    def follow(self, state: int, engaged: bool, message: str) -> None:
        info = {"state": FOLLOW_STATES.get(state, str(state)), "engaged": engaged, "message": message}
        with self._lock:
            self._follow, self._follow_at = info, self._clock()

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            tracked = dict(self._tracked) if self._tracked else None
            diag = self._diag if now - self._diag_at <= self.stale_s * 2 else {}
            follow = dict(self._follow) if self._follow and now - self._follow_at <= self.stale_s else None
            age = now - self._tracked_at

        def num(key: str) -> float | None:
            try:
                return float(diag[key])
            except (KeyError, ValueError):
                return None

        if tracked is not None:
            tracked["age_s"] = round(age, 2)
            tracked["fresh"] = age <= self.stale_s
        return {
            "tracker": tracked,
            "fps": num("fps"),
            "latency_ms_median": num("latency_ms_median"),
            "follow": follow,
        }


def status_lines(s: dict[str, Any]) -> list[str]:
    """Short text lines of a snapshot, e.g. for an RViz text marker."""
    t = s["tracker"]
    if t is None or not t["fresh"]:
        line = "tracker: no data"
    elif t["state"] == "IDLE":
        line = f"tracker: IDLE (target {t['target_id']})"
    else:
        line = f"tracker: {t['state']} target {t['target_id']} score {t['score']:.2f}"
    extras = [f"{s['fps']:.1f} fps" if s["fps"] is not None else "", f"{t['latency_ms']:.0f} ms" if t else ""]
    if any(extras):
        line += "  " + " ".join(e for e in extras if e)
    f = s["follow"]
    if f is None:
        follow = "follower: no status"
    else:
        follow = f"follower: {f['state']}" + (" (engaged)" if f["engaged"] else "")
        if f["message"]:
            follow += f" - {f['message']}"
    return [line, follow]
