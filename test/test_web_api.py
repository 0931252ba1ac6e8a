"""The browser page's ROS-free core: request validation, tokens, stream options, the
status board, and the HTTP server over real HTTP with a recording backend (nothing
reaches the backend from a bad request).
"""

from __future__ import annotations

import http.client
import json
import math
import threading
from typing import Any

import cv2
import numpy as np
import pytest

from asymtrack_ros.tracking.session import Command, Selection
from asymtrack_ros.ui.status import StatusBoard, status_lines
from asymtrack_ros.ui.web_api import ApiError, FollowRequest, StreamOptions, check_token, parse_command, stream_options
from asymtrack_ros.ui.web_server import BOUNDARY, FrameStore, OperatorServer, host_allowed

STAMP = {"sec": 1700000000, "nanosec": 5}
STAMP_NS = 1700000000 * 1_000_000_000 + 5
HTTP_TIMEOUT_S = 60.0  # a socket wait that only a server that never answers reaches


def cmd(body: Any, content_type: str = "application/json") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_command(raw, content_type)


def test_valid_commands():
    s = cmd({"command": "box", "x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4, "stamp": STAMP})
    assert s == Selection(Command.SELECT_BOX, 0.1, 0.2, 0.3, 0.4, True, STAMP_NS, "web_ui")
    s = cmd({"command": "box", "x": 0, "y": 0, "width": 1, "height": 1})  # no stamp: the latest frame
    assert s.stamp_ns == 0 and (s.width, s.height) == (1.0, 1.0)
    s = cmd({"command": "point", "x": 1.0, "y": 0.0, "stamp": STAMP})
    assert s.command == Command.SELECT_POINT and (s.x, s.y, s.normalized, s.stamp_ns) == (1.0, 0.0, True, STAMP_NS)
    assert cmd({"command": "stop"}).command == Command.STOP
    assert cmd({"command": "follow", "enable": True}, "application/json; charset=utf-8") == FollowRequest(True)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        ([1, 2], 400),
        ({"command": "zoom"}, 400),
        ({"x": 0.5}, 400),
        ({"command": "stop", "x": 0.5}, 400),
        ({"command": "follow", "enable": "yes"}, 400),
        ({"command": "point", "x": "0.5", "y": 0.5}, 400),
        ({"command": "point", "x": True, "y": 0.5}, 400),
        ({"command": "point", "x": 0.5}, 400),
        ({"command": "point", "x": 1.5, "y": 0.5}, 422),
        ({"command": "point", "x": -0.01, "y": 0.5}, 422),
        ({"command": "box", "x": 0.5, "y": 0.5, "width": 0.6, "height": 0.1}, 422),
        ({"command": "box", "x": 0.5, "y": 0.5, "width": 0.0, "height": 0.1}, 422),
        ({"command": "box", "x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1, "stamp": {"sec": 1}}, 400),
        ({"command": "box", "x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1, "stamp": {"sec": 1, "nanosec": 2.5}}, 400),
        ({"command": "point", "x": 0.1, "y": 0.1, "stamp": {"sec": 1, "nanosec": 1_000_000_000}}, 422),
        ({"command": "point", "x": 0.1, "y": 0.1, "stamp": {"sec": -1, "nanosec": 0}}, 422),
    ],
)
def test_bad_commands(body, status):
    with pytest.raises(ApiError) as err:
        cmd(body)
    assert err.value.status == status


def test_non_finite_and_wrong_content_type():
    with pytest.raises(ApiError) as err:
        cmd(b'{"command": "point", "x": NaN, "y": 0.5}')
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        cmd({"command": "stop"}, "text/plain")  # what a cross-site form could send without preflight
    assert err.value.status == 415


def test_token():
    check_token("", {}, "")  # none configured: open
    check_token("s3cret", {"Authorization": "Bearer s3cret"}, "")
    check_token("s3cret", {"X-Token": "s3cret"}, "")
    check_token("s3cret", {}, "fps=5&token=s3cret")
    for headers, query, status in [({}, "", 401), ({"Authorization": "Bearer nope"}, "", 403), ({}, "token=x", 403)]:
        with pytest.raises(ApiError) as err:
            check_token("s3cret", headers, query)
        assert err.value.status == status


def test_stream_options():
    d = StreamOptions(15.0, 80, 960)
    assert stream_options("", d) == d
    assert stream_options("fps=5&quality=50&width=0", d) == StreamOptions(5.0, 50, 0)
    for bad in ("fps=0", "fps=nan", "quality=5", "quality=high", "width=-1", "fps=1000"):
        with pytest.raises(ApiError) as err:
            stream_options(bad, d)
        assert err.value.status == 400


def test_host_check_against_dns_rebinding():
    assert host_allowed("127.0.0.1:8080", ())
    assert host_allowed("localhost:8080", ())
    assert host_allowed("[::1]:8080", ())
    assert host_allowed("192.168.1.20", ())
    assert not host_allowed("evil.example:8080", ())
    assert host_allowed("robot.local:8080", ("robot.local",))
    assert host_allowed("anything", ("*",))


def test_status_board_and_text():
    now = [100.0]
    board = StatusBoard(stale_s=2.0, clock=lambda: now[0])
    assert status_lines(board.snapshot()) == ["tracker: no data", "follower: no status"]
    board.tracked(1, 3, 0.8766, 12.34, 5)
    board.diagnostics({"fps": "29.5", "latency_ms_median": "11.0"})
    board.follow(1, True, "")
    s = board.snapshot()
    assert s["tracker"] == {
        "state": "TRACKING",
        "target_id": 3,
        "score": 0.877,
        "latency_ms": 12.3,
        "stamp_ns": "5",
        "age_s": 0.0,
        "fresh": True,
    }
    assert (s["fps"], s["latency_ms_median"]) == (29.5, 11.0)
    assert status_lines(s) == ["tracker: TRACKING target 3 score 0.88  29.5 fps 12 ms", "follower: FOLLOWING (engaged)"]
    now[0] += 3.0
    s = board.snapshot()
    assert not s["tracker"]["fresh"] and s["follow"] is None


# -- the server over real HTTP ------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.selections: list[Selection] = []
        self.follows: list[bool] = []

    def select(self, selection: Selection) -> None:
        self.selections.append(selection)

    def follow(self, enable: bool) -> tuple[int, str]:
        self.follows.append(enable)
        return 200, "engaged" if enable else "disengaged"

    def status(self) -> dict[str, Any]:
        return {"tracker": None, "fps": None, "latency_ms_median": None, "follow": None}


@pytest.fixture(scope="module")
def server():
    backend, frames = Recorder(), FrameStore()
    srv = OperatorServer(("127.0.0.1", 0), backend, frames, token="tok")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, backend, frames
    srv.close()


def request(srv, method: str, path: str, body: Any = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=HTTP_TIMEOUT_S)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer tok", **(headers or {})}
    conn.request(method, path, body=data, headers={k: v for k, v in hdrs.items() if v is not None})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp, payload


def test_http_page_and_static_files(server):
    srv, _, _ = server
    resp, body = request(srv, "GET", "/", headers={"Authorization": None})  # the page needs no token
    assert resp.status == 200 and b"/static/app.js" in body and resp.getheader("Content-Type").startswith("text/html")
    assert "frame-ancestors 'none'" in resp.getheader("Content-Security-Policy")
    for name in ("app.js", "style.css"):
        assert request(srv, "GET", f"/static/{name}")[0].status == 200
    for path in ("/static/../web_api.py", "/static/%2e%2e/web_api.py", "/static/nothing.js", "/etc/passwd"):
        assert request(srv, "GET", path)[0].status == 404


def test_http_commands_and_errors(server):
    srv, backend, _ = server
    box = {"command": "box", "x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4, "stamp": STAMP}
    resp, _ = request(srv, "POST", "/api/command", box)
    assert resp.status == 202 and backend.selections[-1].stamp_ns == STAMP_NS
    resp, body = request(srv, "POST", "/api/command", {"command": "follow", "enable": True})
    assert resp.status == 200 and json.loads(body) == {"ok": True, "message": "engaged"} and backend.follows == [True]
    n = len(backend.selections)
    bad = [
        ("POST", "/api/command", b"{oops", {}, 400),
        ("POST", "/api/command", {"command": "jump"}, {}, 400),
        ("POST", "/api/command", {**box, "x": 1.2}, {}, 422),
        ("POST", "/api/command", box, {"Authorization": None}, 401),
        ("POST", "/api/command", box, {"Authorization": "Bearer wrong"}, 403),
        ("POST", "/api/command", box, {"Content-Type": "text/plain"}, 415),
        ("POST", "/api/command", b"x" * 5000, {}, 413),
        ("POST", "/api/command", box, {"Host": "attacker.example"}, 403),
        ("POST", "/api/nothing", box, {}, 404),
        ("PUT", "/api/command", box, {}, 405),
        ("OPTIONS", "/api/command", None, {"Origin": "http://attacker.example"}, 405),
        ("GET", "/api/status", None, {"Authorization": None}, 401),
        ("GET", "/stream.mjpg?fps=0", None, {}, 400),
        ("GET", "/frame.jpg?after=x", None, {}, 400),
    ]
    for method, path, body, headers, status in bad:
        resp, payload = request(srv, method, path, body, headers)
        assert resp.status == status, (method, path, resp.status, payload)
        assert "error" in json.loads(payload)
    assert len(backend.selections) == n and backend.follows == [True]  # nothing reached the backend


def test_http_frames_carry_their_stamp(server):
    srv, _, frames = server
    image = np.zeros((120, 200, 3), np.uint8)
    image[:, 100:] = 255
    frames.put(lambda: image, 1700000000_000000042)
    resp, data = request(srv, "GET", "/frame.jpg?width=100")
    assert resp.status == 200 and resp.getheader("X-Stamp") == "1700000000.000000042"
    seq = int(resp.getheader("X-Frame-Seq"))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (60, 100, 3)  # scaled down to ?width=
    assert request(srv, "GET", "/api/status?token=tok", headers={"Authorization": None})[0].status == 200

    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=HTTP_TIMEOUT_S)
    conn.request("GET", "/stream.mjpg?fps=30&token=tok")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    parts = []
    for stamp in (1700000000_000000043, 1700000000_000000044):
        frames.put(lambda: image, stamp)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += resp.read(1)
        fields = dict(line.split(": ", 1) for line in head.decode().strip().splitlines()[1:])
        jpeg = resp.read(int(fields["Content-Length"]))
        assert resp.read(2) == b"\r\n"
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (120, 200, 3)
        parts.append(fields["X-Stamp"])
        if fields["X-Stamp"].endswith("44"):
            break
    conn.close()
    assert parts[-1] == "1700000000.000000044" and int(fields["X-Frame-Seq"]) > seq
    assert not math.isnan(frames.last_viewer)
