"""Fuzzed HTTP requests (hypothesis) to the running web_ui_node: bad JSON, missing or wrong
tokens, oversized, chunked or mislabelled bodies, hostile Host headers, odd methods. Each
gets an HTTP answer; exactly the accepted commands (202) come out as TargetSelection
messages over real DDS; the node keeps running and still takes a good command.
"""

from __future__ import annotations

import os
import re
import time

import pytest
import rclpy
from follow_harness import NodeProcess
from hypothesis import Phase, given, settings
from rclpy.executors import SingleThreadedExecutor
from ros_harness import START_S, WAIT_S
from test_fuzz_web import GOOD_BOX, TOKEN, exchange, raw_requests, status_of

from asymtrack_ros.msg import TargetSelection

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

NODE_EXAMPLES = 150  # docs/robustness.md lists it


@pytest.fixture(scope="module")
def web(context, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz_web")
    ns = f"/asym_fuzz_web_{os.getpid()}"
    proc = NodeProcess(
        "web_ui_node", ["--ros-args", "-r", f"__ns:={ns}", "-p", "port:=0", "-p", f"token:={TOKEN}"], tmp / "web.log"
    )
    node = rclpy.create_node("fuzz_listener", namespace=ns, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    selections: list[TargetSelection] = []
    node.create_subscription(TargetSelection, "select", selections.append, 100)
    try:
        deadline = time.monotonic() + START_S
        port = None
        while port is None:
            assert proc.alive(), proc.output()
            assert time.monotonic() < deadline, "web_ui_node did not start:\n" + proc.output()
            found = re.search(r"operator page on http://127\.0\.0\.1:(\d+)/", proc.output())
            port = int(found.group(1)) if found else None
            executor.spin_once(timeout_sec=0.1)
        yield proc, ("127.0.0.1", port), executor, selections
    finally:
        executor.shutdown()
        node.destroy_node()
        code = proc.stop()
    log = proc.output()
    assert code == 0 and "Traceback" not in log, log


def spin_until(executor, done, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        executor.spin_once(timeout_sec=0.01)


def good_request() -> bytes:
    return (
        "POST /api/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(GOOD_BOX)}\r\n\r\n"
    ).encode() + GOOD_BOX


def test_fuzzed_requests_to_the_running_node(web):
    proc, address, executor, selections = web
    # Good commands until one comes through: what is published before discovery matched
    # the node's publisher and this subscription is lost, and not counted.
    deadline = time.monotonic() + START_S
    while not selections:
        assert time.monotonic() < deadline, "no selection came out of the node"
        assert status_of(exchange(address, good_request())) == 202
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
    accepted = {"n": len(selections)}

    @settings(max_examples=NODE_EXAMPLES, phases=(Phase.explicit, Phase.generate))
    @given(raw_requests())
    def send(case):
        raw, valid = case
        status = status_of(exchange(address, raw))
        assert status != 500 and (status == 202 or not valid), (status, raw[:300])
        accepted["n"] += status == 202
        assert proc.alive(), proc.output()
        executor.spin_once(timeout_sec=0)

    send()
    spin_until(executor, lambda: len(selections) >= accepted["n"], "the accepted commands' selections")
    executor.spin_once(timeout_sec=0.5)
    assert len(selections) == accepted["n"]  # nothing else came out
    assert status_of(exchange(address, good_request())) == 202
    spin_until(executor, lambda: len(selections) == accepted["n"] + 1, "the good command's selection")
    last = selections[-1]
    assert last.command == TargetSelection.SELECT_BOX and last.normalized
    assert (round(last.x, 3), round(last.y, 3), round(last.width, 3), round(last.height, 3)) == (0.1, 0.2, 0.3, 0.4)
