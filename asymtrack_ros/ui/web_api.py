"""Browser operator page, ROS-free part 1: request validation and state for the page.

Every request is checked completely before anything happens: a bad one raises
``ApiError`` (a 4xx answer) and has no effect. Coordinates from the page are
normalised ([0, 1] of the displayed frame) and carry that frame's stamp.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ..tracking.session import Command, Selection

MAX_BODY = 4096
SOURCE = "web_ui"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FollowRequest:
    enable: bool


@dataclass(frozen=True)
class StreamOptions:
    fps: float = 15.0  # most frames per second sent to one client
    quality: int = 80  # JPEG quality
    max_width: int = 960  # wider frames are scaled down [px]; 0: full size

    def __post_init__(self) -> None:
        if not (0.5 <= self.fps <= 60 and 10 <= self.quality <= 100 and 0 <= self.max_width <= 8192):
            raise ValueError("need 0.5 <= fps <= 60, 10 <= quality <= 100, 0 <= max_width <= 8192")


def check_token(expected: str, headers: Any, query: str) -> None:
    """No token configured: open. Otherwise ``Authorization: Bearer <token>``, ``X-Token``
    or ``?token=`` (for URLs typed on a phone) must match: 401 when missing, 403 when wrong.
    """
    if not expected:
        return
    given = ""
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    given = given or (headers.get("X-Token") or "").strip()
    given = given or (parse_qs(query).get("token") or [""])[-1]
    if not given:
        raise ApiError(401, "access token required")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "wrong access token")


def stream_options(query: str, defaults: StreamOptions) -> StreamOptions:
    """``?fps=&quality=&width=`` override the node's defaults for one client (400 if bad)."""
    q = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        fps = float(q.get("fps", defaults.fps))
        quality = int(q.get("quality", defaults.quality))
        width = int(q.get("width", defaults.max_width))
        if not math.isfinite(fps):
            raise ValueError("fps must be finite")
        return StreamOptions(fps, quality, width)
    except ValueError as err:
        raise ApiError(400, f"bad stream options: {err}") from None


def _number(body: dict, key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"'{key}' must be a finite number")
    if not 0.0 <= value <= 1.0:
        raise ApiError(422, f"'{key}' = {value} is outside [0, 1] (coordinates are normalised)")
    return float(value)


def _stamp_ns(body: dict) -> int:
    stamp = body.get("stamp")
    if stamp is None:
        return 0  # the latest frame
    if not isinstance(stamp, dict) or set(stamp) != {"sec", "nanosec"}:
        raise ApiError(400, '\'stamp\' must be {"sec": int, "nanosec": int}')
    sec, nanosec = stamp["sec"], stamp["nanosec"]
    for v in (sec, nanosec):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ApiError(400, "stamp sec and nanosec must be integers")
    if not (0 <= sec < 2**31 and 0 <= nanosec < 1_000_000_000):
        raise ApiError(422, "stamp out of range")
    return sec * 1_000_000_000 + nanosec


def parse_command(body: bytes, content_type: str) -> Selection | FollowRequest:
    """The JSON body of ``POST /api/command``:
    ``{"command": "box", "x", "y", "width", "height", "stamp": {"sec", "nanosec"}}``,
    ``{"command": "point", "x", "y", "stamp"}``, ``{"command": "stop"}`` or
    ``{"command": "follow", "enable": bool}``.
    """
    # application/json only: a cross-site form or text/plain POST cannot send it
    # without a CORS preflight, which this server never grants.
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise ApiError(400, "malformed JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object")
    command = data.get("command")
    allowed = {"box": {"x", "y", "width", "height", "stamp"}, "point": {"x", "y", "stamp"}, "stop": set()}
    allowed["follow"] = {"enable"}
    if not isinstance(command, str) or command not in allowed:
        raise ApiError(400, f"unknown command {command!r} (expected one of {', '.join(allowed)})")
    extra = set(data) - allowed[command] - {"command"}
    if extra:
        raise ApiError(400, f"unexpected fields for {command}: {', '.join(sorted(extra))}")
    if command == "stop":
        return Selection(int(Command.STOP), source=SOURCE)
    if command == "follow":
        if not isinstance(data.get("enable"), bool):
            raise ApiError(400, "'enable' must be true or false")
        return FollowRequest(data["enable"])
    x, y = _number(data, "x"), _number(data, "y")
    stamp = _stamp_ns(data)
    if command == "point":
        return Selection(int(Command.SELECT_POINT), x, y, normalized=True, stamp_ns=stamp, source=SOURCE)
    w, h = _number(data, "width"), _number(data, "height")
    if w <= 0 or h <= 0:
        raise ApiError(422, "box width and height must be > 0")
    if x + w > 1.0 + 1e-6 or y + h > 1.0 + 1e-6:
        raise ApiError(422, "box extends beyond the image")
    return Selection(int(Command.SELECT_BOX), x, y, w, h, normalized=True, stamp_ns=stamp, source=SOURCE)
