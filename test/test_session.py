"""TrackingSession without ROS: newest-frame processing with drop counting, selections
with stamp-matched initialisation and catch-up, and bad input leaving the state alone.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import pytest

from asymtrack_ros.tracking.selection import PointBoxParams
from asymtrack_ros.tracking.session import HELD_MAX, Command, Frame, Selection, TrackingSession
from asymtrack_ros.tracking.tracker import Tracker, TrackState

MS = 1_000_000
H, W = 80, 100


class FakeTracker(Tracker):
    """Keeps the box; records which frames (by pixel value) it was initialised and updated on."""

    def __init__(self) -> None:
        super().__init__(engine=None)
        self.inits: list[tuple[int, tuple]] = []
        self.updates: list[int] = []
        self.during_init: Callable[[], None] = lambda: None  # runs while the template is set

    def _search_factor(self, box) -> float:
        return 4.0

    def _set_template(self, image, box) -> None:
        self.inits.append((int(image[0, 0, 0]), box))
        self.during_init()

    def _predict(self, image, box, factor):
        self.updates.append(int(image[0, 0, 0]))
        return box, 0.9

    def _head_size(self, image, box):
        return box[2], box[3]


def frame(i: int, stamp_ns: int | None = None) -> Frame:
    """Frame i: pixel value i, stamp i * 33 ms (1-based so that no stamp is zero)."""
    image = np.full((H, W, 3), i, np.uint8)
    return Frame((i + 1) * 33 * MS if stamp_ns is None else stamp_ns, f"header{i}", time.monotonic(), image)


@pytest.fixture
def session() -> TrackingSession:
    warnings: list[tuple[str, str]] = []
    s = TrackingSession(
        FakeTracker(), buffer_length=10, stamp_tolerance_ns=10 * MS, warn=lambda k, m: warnings.append((k, m))
    )
    s.warnings = warnings
    return s


def feed(s: TrackingSession, frames: range) -> list:
    results = []
    for i in frames:
        s.submit(frame(i))
        results += s.step(0)
    return results


def test_idle_frames_give_idle_results_with_their_header(session):
    results = feed(session, range(3))
    assert [(r.frame.header, r.state, r.target_id, r.box, r.score) for r in results] == [
        (f"header{i}", TrackState.IDLE, 0, None, 0.0) for i in range(3)
    ]
    assert session.stats.processed == 3 and session.stats.dropped == 0


def test_only_the_newest_frame_is_processed(session):
    for i in range(4):
        session.submit(frame(i))
    results = session.step(0)
    assert [r.frame.header for r in results] == ["header3"]
    assert (session.stats.received, session.stats.processed, session.stats.dropped) == (4, 1, 3)
    assert session.step(0) == []  # nothing new


def test_stamp_matched_init_catches_up_through_newer_frames(session):
    feed(session, range(8))
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20, stamp_ns=frame(3).stamp_ns))
    session.submit(frame(8))  # arrives before the worker applies the selection
    results = session.step(0)
    tracker = session.tracker
    assert tracker.inits == [(3, (10.0, 10.0, 20.0, 20.0))]
    assert tracker.updates == [4, 5, 6, 7, 8]  # caught up, then frame 8 live
    assert [(r.frame.header, r.state, r.target_id) for r in results] == [("header8", TrackState.TRACKING, 1)]
    assert session.stats.last_init_stamp_ns == frame(3).stamp_ns
    assert (session.stats.last_init_match, session.stats.last_catchup_frames) == ("exact", 4)


@pytest.mark.parametrize(
    ("stamp_ns", "init_on", "match"),
    [
        (frame(2).stamp_ns + 7 * MS, 2, "nearest"),
        (frame(2).stamp_ns - 7 * MS, 2, "nearest"),
        (frame(2).stamp_ns + 16 * MS, 7, "unknown stamp"),  # beyond the tolerance: latest
        (frame(0).stamp_ns - 1000 * MS, 7, "unknown stamp"),
        (0, 7, "latest"),
    ],
)
def test_stamp_matching(session, stamp_ns, init_on, match):
    feed(session, range(8))
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20, stamp_ns=stamp_ns))
    assert session.step(0) == []  # the init frame was already published
    assert session.tracker.inits[0][0] == init_on
    assert session.tracker.updates == list(range(init_on + 1, 8))
    assert session.stats.last_init_match == match


def test_frames_older_than_the_buffer_are_forgotten(session):
    feed(session, range(15))  # buffer_length 10: frames 5..14 remain
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20, stamp_ns=frame(2).stamp_ns))
    session.step(0)
    assert session.tracker.inits[0][0] == 14 and session.stats.last_init_match == "unknown stamp"


def test_selection_on_the_pending_frame_publishes_it_once(session):
    feed(session, range(3))
    session.submit(frame(3))
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    results = session.step(0)
    assert [(r.frame.header, r.state, r.target_id, r.score, r.box) for r in results] == [
        ("header3", TrackState.TRACKING, 1, 1.0, (10.0, 10.0, 20.0, 20.0))
    ]
    assert session.tracker.updates == []
    assert session.stats.processed == 4


def test_a_frame_arriving_during_init_is_counted_once(session):
    """The producer replaces the pending frame while a selection initialises on it: the
    selected frame gets its result and is not also counted dropped.
    """
    session.submit(frame(0))
    session.tracker.during_init = lambda: session.submit(frame(1))
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    results = session.step(0) + session.step(0)
    assert [r.frame.header for r in results] == ["header0", "header1"]
    s = session.stats
    assert (s.received, s.processed, s.dropped) == (2, 2, 0)


def test_normalized_box_and_point_selection(session):
    feed(session, range(2))
    session.select(Selection(Command.SELECT_BOX, 0.25, 0.5, 0.5, 0.25, normalized=True))
    session.step(0)
    assert session.tracker.inits[-1][1] == (25.0, 40.0, 50.0, 20.0)
    session.select(Selection(Command.SELECT_POINT, 0.5, 0.5, normalized=True))
    session.step(0)
    # A uniform frame gives no region: the default square around (50, 40).
    side = PointBoxParams().default_size
    assert session.tracker.inits[-1][1] == (50 - side / 2, 40 - side / 2, side, side)
    assert session.target_id == 2


def test_stop_and_target_ids(session):
    feed(session, range(2))
    session.select(Selection(Command.STOP))
    session.step(0)
    assert session.warnings[-1][0] == "stop" and session.stats.rejected == 1  # STOP while idle
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    session.select(Selection(Command.STOP))
    session.select(Selection(Command.SELECT_BOX, 30, 30, 20, 20))
    session.step(0)
    assert session.target_id == 2 and session.tracker.state == TrackState.TRACKING
    session.select(Selection(Command.STOP))
    session.submit(frame(2))
    (result,) = session.step(0)
    assert (result.state, result.target_id, result.box) == (TrackState.IDLE, 2, None)


@pytest.mark.parametrize(
    "bad",
    [
        Selection(Command.SELECT_BOX, float("nan"), 10, 20, 20),
        Selection(Command.SELECT_BOX, 10, 10, 0, 20),
        Selection(Command.SELECT_BOX, 200, 10, 20, 20),
        Selection(Command.SELECT_BOX, 2.0, 0.5, 0.1, 0.1, normalized=True),
        Selection(Command.SELECT_POINT, -1, 10),
        Selection(Command.SELECT_POINT, 10, float("inf")),
        Selection(7, 10, 10, 20, 20),
    ],
)
def test_bad_selections_change_nothing(session, bad):
    feed(session, range(2))
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    session.step(0)
    before = (session.target_id, session.tracker.box, session.tracker.state, len(session.tracker.inits))
    session.select(bad)
    session.step(0)
    assert (session.target_id, session.tracker.box, session.tracker.state, len(session.tracker.inits)) == before
    assert session.stats.rejected == 1 and session.warnings


@pytest.mark.parametrize("stamp_ns, match", [(33 * MS, "exact"), (0, "latest"), (5_000 * MS, "unknown stamp")])
def test_a_selection_before_any_frame_waits_for_the_first(session, stamp_ns, match):
    """A select topic often connects before the image topic (a simulator selects as soon as
    the tracker listens, on the image it has just published): the selection is held, then
    initialises on the first frame by the same stamp rule, instead of vanishing.
    """
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20, stamp_ns=stamp_ns))
    assert session.step(0) == [] and session.target_id == 0 and not session.warnings
    [result] = feed(session, range(1))
    assert (result.state, result.target_id, result.box) == (TrackState.TRACKING, 1, (10, 10, 20, 20))
    assert session.tracker.inits == [(0, (10, 10, 20, 20))] and session.stats.last_init_match == match
    assert session.stats.rejected == 0 and session.stats.processed == 1


def test_selections_before_any_frame_keep_their_order_and_the_newest(session):
    for x in range(HELD_MAX + 1):
        session.select(Selection(Command.SELECT_BOX, x, 10, 20, 20))
    session.step(0)
    assert session.stats.rejected == 1 and session.warnings[-1][0] == "held"
    feed(session, range(1))
    assert [box[0] for _, box in session.tracker.inits] == list(range(1, HELD_MAX + 1))
    assert session.target_id == HELD_MAX and session.tracker.box == (HELD_MAX, 10, 20, 20)


def test_undecodable_frames_are_reported_and_never_selected(session):
    feed(session, range(2))

    def broken() -> np.ndarray:
        raise ValueError("corrupt")

    session.submit(Frame(99 * MS, "bad", time.monotonic(), broken))
    assert session.step(0) == []
    assert session.warnings[-1] == ("frame", "dropping an undecodable image: corrupt")
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))  # zero stamp: the latest good frame
    session.step(0)
    assert session.tracker.inits[-1][0] == 1 and session.target_id == 1


def test_step_waits_and_close_wakes_it(session):
    t0 = time.monotonic()
    assert session.step(0.05) == []
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.05, session.close).start()
    t0 = time.monotonic()
    assert session.step(120.0) == []
    assert time.monotonic() - t0 < 60.0  # woken by close, not by the timeout (however busy the machine)
    session.submit(frame(0))  # closed: frames and selections are refused
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    assert session.step(0) == [] and session.stats.received == 0 and session.target_id == 0


def test_concurrent_producer_never_queues(session):
    session.select(Selection(Command.SELECT_BOX, 10, 10, 20, 20))
    done = threading.Event()

    def produce() -> None:
        for i in range(300):
            session.submit(frame(i % 200))
            time.sleep(0.0002)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    results = []
    while not done.is_set():
        results += session.step(0.01)
    producer.join()
    results += session.step(0)
    s = session.stats
    assert s.received == 300 and s.processed == len(results) and s.processed + s.dropped == 300
    seqs = [r.frame.seq for r in results]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 299
