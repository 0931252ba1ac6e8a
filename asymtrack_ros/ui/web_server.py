"""Browser operator page, ROS-free part 2: the HTTP server (standard library only).

Routes: ``/`` and ``/static/<file>`` (the page), ``/stream.mjpg`` (MJPEG; each part has
an ``X-Stamp: <sec>.<nanosec>`` header, which the page reads to know the stamp of the
frame on screen), ``/frame.jpg`` (one JPEG, ``?after=<seq>`` waits for a newer one),
``/api/status`` (JSON) and ``POST /api/command`` (JSON, see ``web_api.parse_command``).
Frames are JPEG-encoded on demand, once per frame and option set, only while watched.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from ..tracking.session import Selection
from .web_api import MAX_BODY, ApiError, FollowRequest, StreamOptions, check_token, parse_command, stream_options

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
BOUNDARY = "asymtrackframe"
DRAIN_S, MAX_DRAIN = 0.5, 1 << 20  # how long and how much of an unread body is read after an error
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
}


class Backend(Protocol):
    """What the server needs from the ROS side."""

    def select(self, selection: Selection) -> None: ...

    def follow(self, enable: bool) -> tuple[int, str]: ...  # HTTP status, message

    def status(self) -> dict[str, Any]: ...


def stamp_text(stamp_ns: int) -> str:
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return f"{sec}.{nanosec:09d}"


class FrameStore:
    """The newest frame (decoded lazily) and its JPEGs; viewers wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.seq = 0  # 0: no frame yet
        self._loader: Callable[[], np.ndarray] | None = None
        self.stamp_ns = 0
        self._jpegs: dict[tuple[int, int, int], bytes] = {}  # (seq, quality, max_width) -> JPEG
        self.viewers = 0
        self.last_viewer = 0.0  # time.monotonic() the last viewer left or was seen

    def put(self, loader: Callable[[], np.ndarray], stamp_ns: int) -> None:
        with self._cond:
            self.seq += 1
            self._loader, self.stamp_ns = loader, stamp_ns
            self._jpegs.clear()
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.seq > seq, timeout)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def jpeg(self, options: StreamOptions) -> tuple[int, int, bytes] | None:
        """(seq, stamp_ns, JPEG) of the newest frame, or None before the first / if undecodable."""
        with self._cond:
            seq, stamp, loader = self.seq, self.stamp_ns, self._loader
            cached = self._jpegs.get((seq, options.quality, options.max_width))
        if cached is not None or loader is None:
            return None if loader is None else (seq, stamp, cached)
        try:
            image = loader()
        except ValueError:
            return None
        h, w = image.shape[:2]
        if options.max_width and w > options.max_width:
            image = cv2.resize(
                image, (options.max_width, max(1, round(h * options.max_width / w))), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, options.quality])
        if not ok:
            return None
        data = buf.tobytes()
        with self._cond:
            if self.seq == seq:
                self._jpegs[(seq, options.quality, options.max_width)] = data
        return seq, stamp, data

    def viewer(self, delta: int) -> None:
        with self._cond:
            self.viewers += delta
            self.last_viewer = time.monotonic()


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Against DNS rebinding: IP literals and localhost, plus the configured names ('*': any)."""
    if "*" in allowed:
        return True
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].split("]")[0]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name in ("localhost", *(a.lower() for a in allowed)):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class OperatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        backend: Backend,
        frames: FrameStore,
        defaults: StreamOptions = StreamOptions(),
        token: str = "",
        allowed_hosts: tuple[str, ...] = (),
        log: Callable[[str], None] = lambda _m: None,
        request_timeout_s: float = 10.0,
    ) -> None:
        """``request_timeout_s``: a client silent this long (a body shorter than its
        Content-Length, a stalled viewer) loses its connection instead of holding a thread.
        """
        self.request_timeout_s = request_timeout_s
        self.backend, self.frames, self.defaults = backend, frames, defaults
        self.token, self.allowed_hosts, self.log = token, allowed_hosts, log
        self.closing = threading.Event()
        super().__init__(address, Handler)

    def close(self) -> None:
        self.closing.set()
        self.frames.wake()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: OperatorServer
    protocol_version = "HTTP/1.1"
    server_version = "asymtrack-web-ui"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.request_timeout_s  # the socket timeout StreamRequestHandler sets
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # requests are not logged; errors are (see _error)

    # -- answers -----------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, err: ApiError) -> None:
        where = f"{self.client_address[0]} {self.command} {self.path.split('?')[0]}"
        self.server.log(f"{where}: {err.status} {err.message}")
        self.close_connection = True  # the body may not have been read
        self._json(err.status, {"error": err.message})
        self._drain()

    def _drain(self) -> None:
        """Read and drop what the client still sends (an unread body) before the connection
        closes: closing a socket with unread data resets it, and the client may lose the
        answer just sent (a 413 seen as a connection reset).
        """
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(DRAIN_S)
            dropped = 0
            while dropped < MAX_DRAIN and (chunk := self.connection.recv(65536)):
                dropped += len(chunk)
        except OSError:
            pass

    def _guard(self, protected: bool) -> tuple[str, str]:
        """Path and query after the Host and token checks (ApiError if they fail)."""
        url = urlsplit(self.path)
        if not host_allowed(self.headers.get("Host") or "", self.server.allowed_hosts):
            raise ApiError(403, "host not allowed (set the allowed_hosts parameter)")
        if protected:
            check_token(self.server.token, self.headers, url.query)
        return url.path, url.query

    # -- methods -----------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        try:
            path, query = self._guard(protected=not (path_is_static(self.path)))
            if path in ("/", "/index.html"):
                self._static("index.html")
            elif path.startswith("/static/"):
                self._static(path[len("/static/") :])
            elif path == "/api/status":
                self._json(200, self.server.backend.status())
            elif path == "/stream.mjpg":
                self._stream(stream_options(query, self.server.defaults))
            elif path == "/frame.jpg":
                self._frame(query)
            else:
                raise ApiError(404, "not found")
        except ApiError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        try:
            path, _ = self._guard(protected=True)
            if path != "/api/command":
                raise ApiError(404 if path not in ("/", "/api/status") else 405, "no such command endpoint")
            length = self.headers.get("Content-Length")
            if length is None or not (length.isascii() and length.isdigit()):  # not '²', which int() refuses
                raise ApiError(411, "Content-Length required")
            if int(length) > MAX_BODY:
                raise ApiError(413, f"body larger than {MAX_BODY} bytes")
            command = parse_command(self.rfile.read(int(length)), self.headers.get("Content-Type") or "")
            if isinstance(command, FollowRequest):
                status, message = self.server.backend.follow(command.enable)
                self._json(status, {"ok": status < 300, "message": message})
            else:
                self.server.backend.select(command)
                self._json(202, {"ok": True})
        except ApiError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _not_allowed(self) -> None:
        self._error(ApiError(405, f"method {self.command} not allowed"))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    # -- content -----------------------------------------------------------------------

    def _static(self, name: str) -> None:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}  # no paths: no traversal
        path = files.get(name)
        if path is None or path.suffix not in CONTENT_TYPES:
            raise ApiError(404, "not found")
        self._send(200, path.read_bytes(), CONTENT_TYPES[path.suffix])

    def _frame(self, query: str) -> None:
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        after = q.get("after", "0")
        if not after.isdigit():
            raise ApiError(400, "'after' must be a frame sequence number")
        options = stream_options(query, self.server.defaults)
        self.server.frames.viewer(0)  # a viewer: keeps (or makes) the node's image subscription
        self.server.frames.wait_newer(int(after), timeout=2.0)
        got = self.server.frames.jpeg(options)
        if got is None or got[0] <= int(after):
            self._json(503 if got is None else 504, {"error": "no new frame"})
            return
        seq, stamp, data = got
        self._send(200, data, "image/jpeg", {"X-Stamp": stamp_text(stamp), "X-Frame-Seq": str(seq)})

    def _stream(self, options: StreamOptions) -> None:
        frames, closing = self.server.frames, self.server.closing
        self.send_response(200)
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        period, seq, next_at = 1.0 / options.fps, 0, 0.0
        frames.viewer(+1)
        try:
            while not closing.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    closing.wait(delay)
                if not frames.wait_newer(seq, timeout=1.0):
                    frames.viewer(0)  # still watching: keeps the node's subscription
                    continue
                got = frames.jpeg(options)
                if got is None:
                    seq = frames.seq
                    continue
                seq, stamp, data = got
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
                    f"X-Stamp: {stamp_text(stamp)}\r\nX-Frame-Seq: {seq}\r\n\r\n"
                )
                self.wfile.write(head.encode() + data + b"\r\n")
                self.wfile.flush()
                next_at = time.monotonic() + period
        finally:
            frames.viewer(-1)


def path_is_static(raw_path: str) -> bool:
    """The page itself needs no token (it asks for one); everything else does."""
    path = urlsplit(raw_path).path
    return path in ("/", "/index.html") or path.startswith("/static/")
