"""Fuzzed messages (hypothesis) to the running tracker node over real DDS: serialized images
cut, corrupted or random on the raw topic, compressed images broken likewise, bad
selections and clicks, and parameter changes of every type. Every message is accounted for
in the node's counters, the node keeps running and keeps its target, and then still tracks
and answers a good selection.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import pytest
from conftest import SEQUENCES
from fuzz_strategies import compressed_data, serialized_images
from geometry_msgs.msg import Point
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter
from ros_harness import WAIT_S, compressed_msg, image_msg, selection
from test_tracker_node import connect, start_node

from asymtrack_ros.msg import TargetSelection, TrackedObject
from asymtrack_ros.nodes.image_codec import UnsupportedEncapsulation, image_loader, parse_image_cdr
from asymtrack_ros.nodes.tracker_node import deserialize_image

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

# Examples per boundary (docs/robustness.md lists them); each sends 1 to 4 messages.
IMAGE_EXAMPLES = 40
COMPRESSED_EXAMPLES = 30
SELECTION_EXAMPLES = 40
PARAMETER_EXAMPLES = 30

IDLE, TRACKING, LOST = TrackedObject.IDLE, TrackedObject.TRACKING, TrackedObject.LOST
BOX, POINT, STOP = TargetSelection.SELECT_BOX, TargetSelection.SELECT_POINT, TargetSelection.STOP
W, H = 360, 240  # the Crossing frames
# A failing example costs a wait for the node: report it as found, without shrinking.
NODE_PHASES = (Phase.explicit, Phase.generate)
# Reliable image QoS with a deep queue: no message is lost between the processes, so each
# one can be accounted for.
FUZZ_NODE = {"threads": 1, "diagnostics_period_s": 0.25, "image_qos_reliability": "reliable", "image_qos_depth": 100}


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    images = [cv2.imread(str(p)) for p in sorted((SEQUENCES / "Crossing" / "img").glob("*.jpg"))[:20]]
    assert images and all(im is not None for im in images)
    return images


def node_fixture(context, tiny_onnx, tmp, compressed: bool):
    namespace = f"/asym_fuzz_{'c' if compressed else 'r'}_{os.getpid()}"
    overrides = {"model_path": str(tiny_onnx), **FUZZ_NODE}
    if compressed:
        overrides["image_transport"] = "compressed"
    node = start_node(tmp, namespace, overrides)
    harness = connect(context, node, namespace, compressed=compressed)
    return harness, node


def stop_cleanly(harness, node) -> None:
    harness.close()
    code = node.stop()
    log = node.output()
    assert code == 0, f"node exited with {code} on SIGINT:\n{log}"
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def raw(context, tiny_onnx, tmp_path_factory):
    harness, node = node_fixture(context, tiny_onnx, tmp_path_factory.mktemp("fuzz_raw"), compressed=False)
    yield harness, node
    stop_cleanly(harness, node)


def counters(h) -> dict[str, int]:
    d = h.latest_diag(lambda d: True, fresh=True)
    return {k: int(d[k]) for k in ("frames_received", "frames_processed", "frames_dropped", "inputs_rejected")} | {
        "target_id": int(d["target_id"])
    }


def wait_counts(h, node, done, what: str) -> dict[str, str]:
    """Diagnostics once ``done(values)`` holds; the node must stay alive meanwhile."""

    def ready() -> bool:
        assert node.alive(), f"the node died:\n{node.output()[-3000:]}"
        return bool(h.diagnostics) and done(h.diagnostics[-1])

    h.spin_until(ready, WAIT_S, what)
    return h.diagnostics[-1]


# At least the 4-byte CDR encapsulation header: DDS may discard shorter payloads before any
# node sees them (lost in transport, not the node's to count).
cdr_payloads = serialized_images().filter(lambda case: len(case[0]) >= 4)


def refused(data: bytes) -> bool:
    """Whether the node should refuse this serialized image (the codec's own verdict, fuzzed
    against the pixels in test_fuzz_images).
    """
    try:
        try:
            msg = parse_image_cdr(data)
        except UnsupportedEncapsulation:
            msg = deserialize_image(data)
        image_loader(msg)
    except ValueError:
        return True
    return False


def track(h, frames, box=(205, 151, 17, 50)) -> TrackedObject:
    """Select on a good frame (the latest one may be a fuzzed image the box does not fit)."""
    h.send(image_msg(frames[0]))
    h.select_pub.publish(selection(BOX, *box))
    return h.feed_until(frames, image_msg, lambda r: r.state == TRACKING, "TRACKING")[-1]


def test_serialized_image_stream(raw, frames):
    h, node = raw
    start = counters(h)
    sent = {"n": 0, "refused": 0}

    @settings(max_examples=IMAGE_EXAMPLES, phases=NODE_PHASES)
    @given(st.lists(cdr_payloads, min_size=1, max_size=4))
    @example([(b"\x00\x09\x00\x00abc", None)])  # not CDR: rclpy's RMWError once ended the node
    def send(batch):
        for data, _ in batch:
            h.image_pub.publish(data)
        sent["n"] += len(batch)
        sent["refused"] += sum(refused(data) for data, _ in batch)
        total = start["frames_received"] + start["inputs_rejected"] + sent["n"]
        wait_counts(h, node, lambda d: int(d["frames_received"]) + int(d["inputs_rejected"]) >= total, "accounting")

    send()
    end = counters(h)
    assert end["inputs_rejected"] - start["inputs_rejected"] == sent["refused"]
    assert end["frames_received"] - start["frames_received"] == sent["n"] - sent["refused"]
    assert end["frames_received"] == end["frames_processed"] + end["frames_dropped"]
    good = track(h, frames)  # still tracks
    assert good.target_id == start["target_id"] + 1
    h.select_pub.publish(selection(STOP))
    h.feed_until(frames, image_msg, lambda r: r.state == IDLE, "IDLE")


float32 = st.floats(width=32)
BIG = 2.0**127  # float32 fields: bounds must be exact float32 values


@st.composite
def bad_selections(draw) -> TargetSelection | Point:
    """Selections no image can satisfy, with any stamp; and clicks outside the image."""
    kind = draw(st.sampled_from(["nan", "size", "outside", "normalized", "command", "point", "click"]))
    x, y = draw(st.floats(0, 300, width=32)), draw(st.floats(0, 200, width=32))
    w, h = draw(st.floats(1, 60, width=32)), draw(st.floats(1, 40, width=32))
    command, normalized = BOX, False
    if kind == "nan":
        values = [x, y, w, h]
        values[draw(st.integers(0, 3))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        x, y, w, h = values
    elif kind == "size":
        w, h = (
            (draw(st.floats(-BIG, 0, width=32)), h)
            if draw(st.booleans())
            else (w, draw(st.floats(max_value=0, width=32)))
        )
    elif kind == "outside":
        x = draw(st.one_of(st.floats(W, BIG, width=32), st.floats(-BIG, -1000, width=32)))
    elif kind == "normalized":
        normalized, x = True, draw(st.one_of(st.floats(1.0, BIG, width=32), st.floats(-BIG, -1.0, width=32)))
        w, h = draw(st.floats(2.0**-10, 1, width=32)), draw(st.floats(2.0**-10, 1, width=32))
    elif kind == "command":
        command = draw(st.integers(3, 255))
    elif kind == "point":
        command = POINT
        x = draw(st.one_of(st.floats(W, BIG, width=32), st.floats(max_value=-(2.0**-10), width=32), st.just(math.nan)))
    else:
        bad = st.one_of(st.floats(W, BIG, width=32), st.floats(max_value=-(2.0**-10), width=32), st.just(math.nan))
        return Point(x=draw(bad), y=draw(float32), z=draw(float32))
    msg = selection(command, x, y, w, h, normalized=normalized)
    msg.header.stamp.sec = draw(st.integers(-(2**31), 2**31 - 1))
    msg.header.stamp.nanosec = draw(st.integers(0, 2**32 - 1))
    return msg


def test_bad_selection_stream_keeps_the_target(raw, frames):
    h, node = raw
    good = track(h, frames)
    start = counters(h)
    sent = {"n": 0}

    @settings(max_examples=SELECTION_EXAMPLES, phases=NODE_PHASES)
    @given(st.lists(bad_selections(), min_size=1, max_size=4))
    def send(batch):
        for msg in batch:
            (h.click_pub if isinstance(msg, Point) else h.select_pub).publish(msg)
        sent["n"] += len(batch)
        total = start["inputs_rejected"] + sent["n"]
        wait_counts(h, node, lambda d: int(d["inputs_rejected"]) >= total, "the selections' rejection")

    send()
    end = counters(h)
    assert end["inputs_rejected"] - start["inputs_rejected"] == sent["n"]
    assert end["target_id"] == good.target_id
    for f in frames[:3]:  # the same target, still tracked
        out = h.send(image_msg(f))
        assert out.target_id == good.target_id and out.state in (TRACKING, LOST)
    # A usable box whose stamp names no buffered frame starts on the latest frame.
    future = selection(BOX, 205, 151, 17, 50, stamp=image_msg(frames[0]).header.stamp)
    future.header.stamp.sec += 3600
    h.select_pub.publish(future)
    out = h.feed_until(frames, image_msg, lambda r: r.target_id == good.target_id + 1, "the next target")[-1]
    assert out.state in (TRACKING, LOST)
    d = h.latest_diag(lambda d: int(d["target_id"]) == good.target_id + 1)
    assert d["last_init_match"] == "unknown stamp"
    h.select_pub.publish(selection(STOP))
    h.feed_until(frames, image_msg, lambda r: r.state == IDLE, "IDLE")


parameter_values = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=4),
    st.lists(st.floats(), min_size=1, max_size=4),
    st.lists(st.text(max_size=8), min_size=1, max_size=4),
    st.lists(st.booleans(), min_size=1, max_size=4),
)


def call(h, client, request):
    assert client.wait_for_service(timeout_sec=WAIT_S)
    future = client.call_async(request)
    h.spin_until(future.done, WAIT_S, "the parameter service")
    return future.result()


def test_parameter_changes_are_refused_and_change_nothing(raw, frames):
    """The node reads its parameters once at start: a change at run time is refused with a
    reason instead of being accepted and silently ignored.
    """
    h, node = raw
    base = f"{h.namespace}/tracker_node"
    setter = h.node.create_client(SetParameters, f"{base}/set_parameters")
    getter = h.node.create_client(GetParameters, f"{base}/get_parameters")
    names = ["threads", "lost_threshold", "model_path", "providers", "image_transport", "buffer_length", "fp16"]
    before = call(h, getter, GetParameters.Request(names=names)).values
    good = track(h, frames)

    @settings(max_examples=PARAMETER_EXAMPLES, phases=NODE_PHASES)
    @given(
        st.lists(st.tuples(st.sampled_from(names + ["no_such_parameter"]), parameter_values), min_size=1, max_size=3)
    )
    def send(changes):
        request = SetParameters.Request(parameters=[Parameter(n, value=v).to_parameter_msg() for n, v in changes])
        results = call(h, setter, request).results
        assert len(results) == len(changes)
        assert not any(r.successful for r in results) and all(r.reason for r in results), results

    send()
    after = call(h, getter, GetParameters.Request(names=names)).values
    assert after == before
    out = h.send(image_msg(frames[0]))
    assert node.alive() and out.target_id == good.target_id and out.state in (TRACKING, LOST)
    h.select_pub.publish(selection(STOP))
    h.feed_until(frames, image_msg, lambda r: r.state == IDLE, "IDLE")


def test_compressed_image_stream(context, tiny_onnx, tmp_path, frames):
    h, node = node_fixture(context, tiny_onnx, tmp_path, compressed=True)
    try:
        start = counters(h)
        sent = {"n": 0}

        @settings(max_examples=COMPRESSED_EXAMPLES, phases=NODE_PHASES)
        @given(st.lists(compressed_data(), min_size=1, max_size=4))
        def send(batch):
            for data, _ in batch:
                msg = compressed_msg(frames[0])
                msg.data = data
                h.image_pub.publish(msg)
            sent["n"] += len(batch)
            total = start["frames_received"] + sent["n"]

            def settled(d) -> bool:  # every frame received and processed, dropped or rejected
                received = int(d["frames_received"])
                done = int(d["frames_processed"]) + int(d["frames_dropped"]) + int(d["inputs_rejected"])
                return received >= total and done - start["inputs_rejected"] >= received

            wait_counts(h, node, settled, "accounting")

        send()
        end = counters(h)
        assert end["frames_received"] - start["frames_received"] == sent["n"]
        rejected = end["inputs_rejected"] - start["inputs_rejected"]
        assert end["frames_received"] == end["frames_processed"] + end["frames_dropped"] + rejected
        h.send(compressed_msg(frames[0]))  # the latest frame: a good one
        h.select_pub.publish(selection(BOX, 205, 151, 17, 50))
        good = h.feed_until(frames, compressed_msg, lambda r: r.state == TRACKING, "TRACKING")[-1]
        assert good.target_id == start["target_id"] + 1
    finally:
        stop_cleanly(h, node)
