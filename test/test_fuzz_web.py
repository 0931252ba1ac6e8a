"""Fuzzed web API (hypothesis): command bodies of any bytes and any JSON (deeply nested too),
tokens and headers of any content, stream options, hostile Host headers; then raw HTTP
requests over real sockets to the operator server: bad JSON, missing or wrong tokens,
oversized, chunked or mislabelled bodies, odd methods and paths. Every request gets an
HTTP answer (a 4xx for a bad one) and only a valid, authorised command reaches the backend;
the server still answers a good request afterwards.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_web_api import Recorder  # the same recording backend the API tests use

from asymtrack_ros.tracking.session import Command, Selection
from asymtrack_ros.ui.web_api import (
    MAX_BODY,
    ApiError,
    FollowRequest,
    StreamOptions,
    check_token,
    parse_command,
    stream_options,
)
from asymtrack_ros.ui.web_server import FrameStore, OperatorServer, host_allowed

# Examples per boundary (docs/robustness.md lists them).
COMMAND_EXAMPLES = 1000
TOKEN_EXAMPLES = 500
OPTION_EXAMPLES = 500
HOST_EXAMPLES = 500
HTTP_EXAMPLES = 300

TOKEN = "s3cret-token"
SOCKET_TIMEOUT_S = 60.0  # only a server that never answers reaches it
text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)  # what HTTP decoding can give
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
coordinate = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1), json_values)


@st.composite
def command_bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["command", "command", "command", "json", "bytes", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":  # deeper than the JSON decoder's recursion limit
        depth = draw(st.integers(1, 4000))
        return draw(st.sampled_from([b"[", b'{"a":'])) * depth
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    body: dict[str, Any] = {"command": draw(st.one_of(st.sampled_from(["box", "point", "stop", "follow"]), text))}
    for key in draw(st.lists(st.sampled_from(["x", "y", "width", "height", "stamp", "enable", "extra"]), max_size=7)):
        body[key] = draw(coordinate)
    if draw(st.booleans()):
        stamp = {"sec": draw(st.one_of(st.integers(-5, 2**32), json_values)), "nanosec": draw(st.integers(-5, 2**31))}
        body["stamp"] = stamp
    return json.dumps(body).encode()


def check_command(result: Selection | FollowRequest) -> None:
    """What a parsed command promises the node: normalised, finite, inside the image."""
    if isinstance(result, FollowRequest):
        assert isinstance(result.enable, bool)
        return
    assert result.command in (Command.SELECT_BOX, Command.SELECT_POINT, Command.STOP) and result.stamp_ns >= 0
    values = (result.x, result.y, result.width, result.height)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), result
    if result.command == Command.SELECT_BOX:
        assert result.width > 0 and result.height > 0 and result.x + result.width <= 1.0 + 1e-6


@settings(max_examples=COMMAND_EXAMPLES)
@given(command_bodies(), st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]))
@example(b"[" * 5000, "application/json")  # was a RecursionError out of the request handler
def test_command_bodies_parse_or_get_a_4xx(body, content_type):
    try:
        result = parse_command(body, content_type)
    except ApiError as err:
        assert 400 <= err.status < 500 and err.message, err
        return
    assert content_type.startswith("application/json")
    check_command(result)


@settings(max_examples=TOKEN_EXAMPLES)
@given(
    st.sampled_from(["", TOKEN, "ünïcode-tøken"]),
    st.dictionaries(st.sampled_from(["Authorization", "X-Token", "Cookie"]), text, max_size=3),
    st.one_of(text, st.builds(lambda t: f"token={t}", text), st.just(f"token={TOKEN}")),
)
def test_tokens_admit_only_the_right_one(expected, headers, query):
    try:
        check_token(expected, headers, query)
    except ApiError as err:
        assert expected and err.status in (401, 403), err
        return
    given = headers.get("Authorization", "")
    assert (
        not expected
        or given.lower().startswith("bearer ")
        and given[7:].strip() == expected
        or headers.get("X-Token", "").strip() == expected
        or f"token={expected}" in query
    )


@settings(max_examples=OPTION_EXAMPLES)
@given(
    st.lists(
        st.tuples(st.sampled_from(["fps", "quality", "width", "token", "x"]), st.one_of(text, st.integers().map(str))),
        max_size=4,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
)
@example("fps=nan&quality=80")
@example("width=" + "9" * 5000)
def test_stream_options_valid_or_400(query):
    try:
        options = stream_options(query, StreamOptions())
    except ApiError as err:
        assert err.status == 400, err
        return
    assert 0.5 <= options.fps <= 60 and 10 <= options.quality <= 100 and 0 <= options.max_width <= 8192


hosts = st.one_of(
    text,
    st.sampled_from(
        ["localhost", "127.0.0.1:8080", "[::1]:80", "[::1", "::1", "evil.example", "0x7f.1", "1.2.3.4:5:6"]
    ),
    st.builds(lambda a, b: f"{a}:{b}", text, st.integers(-1, 70000)),
)


@settings(max_examples=HOST_EXAMPLES)
@given(hosts, st.lists(st.sampled_from(["robot.local", "*", "Robot.Local"]), max_size=2).map(tuple))
def test_host_check_admits_only_literals_localhost_and_named_hosts(host, allowed):
    admitted = host_allowed(host, allowed)
    assert isinstance(admitted, bool)
    if admitted and "*" not in allowed:
        name = host.strip().lower()
        assert "localhost" in name or "robot.local" in name or any(c.isdigit() for c in name) or ":" in name, host


# -- raw HTTP to a real server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    backend = Recorder()
    srv = OperatorServer(("127.0.0.1", 0), backend, FrameStore(), token=TOKEN)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, backend
    srv.close()


GOOD_BOX = json.dumps({"command": "box", "x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4}).encode()


@st.composite
def raw_requests(draw) -> tuple[bytes, bool]:
    """Request bytes and whether it is a valid, authorised command (the backend must get it)."""
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "HEAD", "DELETE", "BREW"]))
    path = draw(st.sampled_from(["/api/command", "/api/command", "/api/status", "/", "/stream.mjpg?fps=0", "/x"]))
    body = draw(st.one_of(st.just(GOOD_BOX), command_bodies(), st.binary(min_size=MAX_BODY + 1, max_size=MAX_BODY + 9)))
    host = draw(st.sampled_from(["127.0.0.1", "localhost:8080", "attacker.example", "", None, "127.0.0.1\x7f"]))
    token = draw(st.sampled_from([TOKEN, TOKEN, "wrong", "", None]))
    content_type = draw(st.sampled_from(["application/json", "text/plain", None]))
    length = draw(
        st.sampled_from(["exact", "exact", "missing", "short", "+5", "-1", "\xb2", "\xb9", "1e3", "99999999"])
    )
    chunked = draw(st.booleans()) and draw(st.booleans())
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        payload = body
    if length == "exact":
        lines.append(f"Content-Length: {len(payload)}")
    elif length == "short":
        lines.append(f"Content-Length: {max(0, len(payload) - 3)}")
    elif length != "missing":
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    valid = (
        method == "POST"
        and path == "/api/command"
        and body == GOOD_BOX
        and host in ("127.0.0.1", "localhost:8080")
        and token == TOKEN
        and content_type == "application/json"
        and length == "exact"
        and not chunked
    )
    return raw, valid


def exchange(address: tuple[str, int], raw: bytes) -> bytes:
    """Send a request, close the sending side (a client that has said all it will), read the answer."""
    with socket.create_connection(address, timeout=SOCKET_TIMEOUT_S) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered the headers and closed before taking the body
            pass
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    head = answer.split(b"\r\n", 1)[0].split()
    assert len(head) >= 2 and head[0].startswith(b"HTTP/1."), answer[:200]
    return int(head[1])


@settings(max_examples=HTTP_EXAMPLES)
@given(raw_requests())
@example(
    (b"POST /api/command HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN.encode()
     + b"\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\n\r\n{}", False)
)  # fmt: skip
def test_raw_http_requests_get_an_answer_and_only_valid_ones_act(server, case):
    srv, backend = server
    raw, valid = case
    before = (len(backend.selections), len(backend.follows))
    status = status_of(exchange(srv.server_address[:2], raw))
    acted = (len(backend.selections), len(backend.follows)) != before
    if valid:
        assert status == 202 and acted
    else:
        assert not acted or status < 300, (status, raw[:300])
        assert status != 500


def test_the_server_still_answers_after_the_fuzz(server):
    srv, backend = server
    raw = (
        "POST /api/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(GOOD_BOX)}\r\n\r\n"
    ).encode() + GOOD_BOX
    n = len(backend.selections)
    assert status_of(exchange(srv.server_address[:2], raw)) == 202 and len(backend.selections) == n + 1


def test_a_body_shorter_than_its_length_times_out_instead_of_holding_a_thread():
    backend = Recorder()
    srv = OperatorServer(("127.0.0.1", 0), backend, FrameStore(), token=TOKEN, request_timeout_s=0.5)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        head = (
            "POST /api/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
        ).encode()
        with socket.create_connection(srv.server_address[:2], timeout=SOCKET_TIMEOUT_S) as sock:
            sock.sendall(head + GOOD_BOX[:10])  # and then nothing, the connection left open
            assert sock.recv(65536) == b""  # the server gave up on it and closed it
        assert backend.selections == []
    finally:
        srv.close()
