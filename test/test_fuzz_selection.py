"""Fuzzed selections (hypothesis): boxes and points with NaN, infinities, negative or zero
sizes, outside the frame, normalised or not, unknown commands, stamps exact, near, stale,
in the future or negative, interleaved with good and undecodable frames, through a real
tracker (the tiny fixture model on onnxruntime). A usable selection starts a new target, an
unusable one is counted as rejected and leaves the tracker as it was; every frame received
is processed, dropped or rejected.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from asymtrack_ros.engines.factory import create_tracker, load_engine
from asymtrack_ros.nodes.image_codec import decode_compressed
from asymtrack_ros.tracking.selection import (
    PointBoxParams,
    SelectionError,
    box_around_point,
    validate_box,
    validate_point,
)
from asymtrack_ros.tracking.session import Command, Frame, Selection, TrackingSession
from asymtrack_ros.tracking.tracker import TrackerParams, TrackState

# Examples per boundary (docs/robustness.md lists them).
BOX_EXAMPLES = 1000
POINT_BOX_EXAMPLES = 300
SESSION_EXAMPLES = 100

H, W = 120, 160
MS = 1_000_000
coords = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-50, 250),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, -1.0, 1e-9, 1e30, -1e30]),
)


def usable_box(x: float, y: float, w: float, h: float) -> bool:
    """The spec: finite, positive size, at least a pixel of it inside the image."""
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return False
    return min(W, x + w) - max(0.0, x) >= 1.0 and min(H, y + h) - max(0.0, y) >= 1.0


@settings(max_examples=BOX_EXAMPLES)
@given(coords, coords, coords, coords)
def test_boxes_are_clipped_inside_or_refused(x, y, w, h):
    try:
        bx, by, bw, bh = validate_box((x, y, w, h), W, H)
    except SelectionError as err:
        assert not usable_box(x, y, w, h), err
        return
    assert usable_box(x, y, w, h)
    assert 0 <= bx and 0 <= by and bw >= 1 and bh >= 1 and bx + bw <= W and by + bh <= H


@settings(max_examples=BOX_EXAMPLES)
@given(coords, coords)
def test_points_inside_or_refused(x, y):
    inside = math.isfinite(x) and math.isfinite(y) and 0 <= x < W and 0 <= y < H
    try:
        assert validate_point(x, y, W, H) == (x, y) and inside
    except SelectionError:
        assert not inside


@st.composite
def images(draw) -> np.ndarray:
    """Flat, noisy or blocky images, where region growing leaks, finds little or finds a blob."""
    h, w = draw(st.integers(1, 90)), draw(st.integers(1, 90))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["flat", "noise", "blob"]))
    if kind == "flat":
        return np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "blob":
        image[h // 4 : h // 4 + h // 2 + 1, w // 4 : w // 4 + w // 2 + 1] = (20, 200, 40)
    return image


@st.composite
def point_params(draw) -> PointBoxParams:
    """Valid limits, small to large (invalid ones are refused: tested below)."""
    lo = draw(st.floats(1, 100))
    hi = draw(st.floats(lo, 300))
    return PointBoxParams(draw(st.floats(lo, hi)), lo, hi)


@settings(max_examples=POINT_BOX_EXAMPLES)
@given(images(), coords, coords, st.one_of(st.just(PointBoxParams()), point_params()))
def test_point_boxes_stay_inside_the_image(image, x, y, params):
    h, w = image.shape[:2]
    try:
        (bx, by, bw, bh), _ = box_around_point(image, x, y, params)
    except SelectionError:
        assert not (math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h)
        return
    assert 0 <= bx and 0 <= by and bx + bw <= w + 1e-9 and by + bh <= h + 1e-9
    assert 0 < bw <= params.max_size and 0 < bh <= params.max_size


def test_point_box_parameters_out_of_range_are_refused():
    for args in [(64.0, 0.5, 256.0), (64.0, 32.0, 16.0), (8.0, 16.0, 256.0), (300.0, 16.0, 256.0)]:
        with pytest.raises(ValueError):
            PointBoxParams(*args)


# -- a stream of selections and frames through a real tracker ---------------------------------


@pytest.fixture(scope="module")
def engine(tiny_onnx):
    return load_engine(tiny_onnx, threads=1)


def textured_frame(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    image[40:80, 60 + i % 20 : 100 + i % 20] = (30, 30, 200)
    return image


@st.composite
def selections(draw, stamps: list[int]) -> Selection:
    box, point, stop = Command.SELECT_BOX, Command.SELECT_POINT, Command.STOP
    command = draw(st.sampled_from([box, box, box, point, point, stop, 3, 255]))
    normalized = draw(st.booleans())
    base = stamps[-1] if stamps else 1
    stamp = draw(
        st.one_of(
            st.just(0),  # the latest frame
            st.sampled_from(stamps or [1]),  # exact
            st.integers(-15 * MS, 15 * MS).map(lambda d: max(1, base + d)),  # near
            st.just(max(1, base - 10_000 * MS)),  # stale: long out of the buffer
            st.just(base + 10_000 * MS),  # in the future
            st.integers(-(2**62), -1),  # negative
        )
    )
    plausible = st.floats(0.01, 0.6) if normalized else st.floats(1, 100)
    values = [draw(plausible if draw(st.integers(0, 3)) else coords) for _ in range(4)]
    return Selection(command, *values, normalized=normalized, stamp_ns=stamp, source="fuzz")


def expected_usable(sel: Selection) -> bool:
    x, y, w, h = sel.x, sel.y, sel.width, sel.height
    if sel.normalized:
        x, y, w, h = x * W, y * H, w * W, h * H
    if sel.command == Command.SELECT_BOX:
        return usable_box(x, y, w, h)
    return math.isfinite(x) and math.isfinite(y) and 0 <= x < W and 0 <= y < H


@st.composite
def operations(draw) -> list[tuple[str, object]]:
    """Frames one by one or in bursts (the newest replaces the others: drops), undecodable
    frames and selections; the worker steps after each.
    """
    ops: list[tuple[str, object]] = [("frames", [0])]
    stamps = [33 * MS]
    n = 1
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["frame", "burst", "bad_frame", "select", "select"]))
        if kind == "select":
            ops.append(("select", draw(selections(stamps))))
            continue
        count = 3 if kind == "burst" else 1
        ops.append(("bad_frame" if kind == "bad_frame" else "frames", list(range(n, n + count))))
        stamps += [(i + 1) * 33 * MS for i in range(n, n + count)]
        n += count
    return ops


@settings(max_examples=SESSION_EXAMPLES)
@given(operations())
def test_selection_stream_keeps_the_tracker_and_the_accounts(engine, ops):
    warnings: list[str] = []
    tracker = create_tracker(engine, TrackerParams(bgr_input=True))
    session = TrackingSession(
        tracker, buffer_length=8, stamp_tolerance_ns=10 * MS, warn=lambda k, m: warnings.append(m)
    )
    for kind, value in ops:
        before = (session.target_id, tracker.state, tracker.box, session.stats.rejected)
        if kind == "select":
            session.select(value)
        else:
            for i in value:
                image = textured_frame(i) if kind == "frames" else (lambda: decode_compressed(b"\0"))
                session.submit(Frame((i + 1) * 33 * MS, i, time.monotonic(), image))
        session.step(timeout=0)
        if kind != "select":
            continue
        sel, (target, state, box, rejected) = value, before
        event("stop" if sel.command == Command.STOP else "started" if session.target_id > target else "refused")
        if sel.command == Command.STOP:
            if state == TrackState.IDLE:
                assert session.stats.rejected == rejected + 1
            else:
                assert tracker.state == TrackState.IDLE and session.target_id == target
        elif session.target_id == target:  # refused: counted, and the tracker as it was
            assert session.stats.rejected == rejected + 1, sel
            assert (tracker.state, tracker.box) == (state, box), sel
            usable = sel.command in (Command.SELECT_BOX, Command.SELECT_POINT) and expected_usable(sel)
            assert not usable or "undecodable" in warnings[-1] or "cannot decode" in warnings[-1], sel
        else:
            assert sel.command in (Command.SELECT_BOX, Command.SELECT_POINT) and expected_usable(sel), sel
            assert session.target_id == target + 1 and tracker.state != TrackState.IDLE, sel
            x, y, w, h = tracker.box
            assert 0 <= x and 0 <= y and x + w <= W + 1e-6 and y + h <= H + 1e-6
    s = session.stats
    frame_rejects = sum("undecodable" in m for m in warnings)
    assert s.received == s.processed + s.dropped + frame_rejects, (s, warnings)
