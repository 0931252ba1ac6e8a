"""The desktop selector's logic without a display: drag/click state machine, the frozen
frame and its stamp, window-to-image mapping when the window is scaled, key bindings.
"""

from __future__ import annotations

import numpy as np
import pytest

from asymtrack_ros.tracking.session import Command
from asymtrack_ros.ui.selector_logic import (
    KEY_ESC,
    MOUSE_DOWN,
    MOUSE_MOVE,
    MOUSE_UP,
    Follow,
    Quit,
    Select,
    SelectorLogic,
    View,
    draw_overlay,
)


def logic_on(view: View, stamp: int = 1000) -> SelectorLogic:
    logic = SelectorLogic()
    assert logic.on_frame(stamp, view)
    return logic


def drag(logic: SelectorLogic, a: tuple[float, float], b: tuple[float, float]) -> list:
    assert logic.on_mouse(MOUSE_DOWN, *a) == []
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    assert logic.on_mouse(MOUSE_MOVE, *mid) == []
    return logic.on_mouse(MOUSE_UP, *b)


def test_view_fit_scales_down_only():
    assert View.fit(640, 480) == View(640, 480, 640, 480)
    assert View.fit(640, 480, 1280, 720) == View(640, 480, 640, 480)  # never up
    v = View.fit(1920, 1080, 1280, 720)
    assert (v.display_w, v.display_h) == (1280, 720) and v.scaled
    v = View.fit(1000, 2000, 0, 500)  # only the height limited
    assert (v.display_w, v.display_h) == (250, 500)
    with pytest.raises(ValueError):
        View.fit(0, 10)


def test_window_to_image_mapping_when_scaled():
    v = View.fit(1920, 1080, 960, 540)
    assert v.to_image(480, 270) == (960.0, 540.0)
    assert v.to_image(960, 540) == (1920.0, 1080.0)
    assert v.to_image(-30, 9999) == (0.0, 1080.0)  # a drag that left the window is clamped
    assert v.to_normalized(240, 135) == (0.25, 0.25)


def test_drag_selects_a_normalised_box_with_the_displayed_stamp():
    logic = logic_on(View.fit(1920, 1080, 960, 540), stamp=42_000_000_123)
    (action,) = drag(logic, (480, 270), (240, 135))  # dragged up-left: corners are sorted
    assert isinstance(action, Select)
    s = action.selection
    assert s.command == Command.SELECT_BOX and s.normalized
    assert (s.x, s.y, s.width, s.height) == (0.25, 0.25, 0.25, 0.25)
    assert s.stamp_ns == 42_000_000_123 and s.source == "selector"
    assert not logic.frozen and logic.drag_rect() is None


def test_frame_is_frozen_while_dragging_and_the_press_frame_counts():
    view = View.fit(640, 480)
    logic = logic_on(view, stamp=1)
    logic.on_mouse(MOUSE_DOWN, 100, 100)
    assert logic.frozen
    assert not logic.on_frame(2, view)  # newer frames are not shown during the drag
    assert logic.stamp_ns == 1
    logic.on_mouse(MOUSE_MOVE, 150, 180)
    assert logic.drag_rect() == (100, 100, 150, 180)
    (action,) = logic.on_mouse(MOUSE_UP, 200, 200)
    assert action.selection.stamp_ns == 1
    assert logic.on_frame(3, view) and logic.stamp_ns == 3


def test_click_selects_a_point():
    logic = logic_on(View.fit(400, 200), stamp=7)
    logic.on_mouse(MOUSE_DOWN, 100, 50)
    (action,) = logic.on_mouse(MOUSE_UP, 102, 51)  # jitter below the click distance
    s = action.selection
    assert s.command == Command.SELECT_POINT and s.normalized and s.stamp_ns == 7
    assert (s.x, s.y) == (0.25, 0.25) and (s.width, s.height) == (0, 0)


def test_thin_drags_and_events_without_a_press_or_frame_do_nothing():
    logic = SelectorLogic()
    assert logic.on_mouse(MOUSE_DOWN, 10, 10) == []  # no frame yet
    assert logic.on_mouse(MOUSE_UP, 50, 50) == []
    logic.on_frame(1, View.fit(640, 480))
    assert logic.on_mouse(MOUSE_MOVE, 10, 10) == [] and logic.on_mouse(MOUSE_UP, 10, 10) == []
    assert drag(logic, (10, 10), (200, 12)) == []  # 2 px high
    assert "thin" in logic.message
    assert logic.on_mouse(MOUSE_DOWN, float("nan"), 3) == []


def test_drag_leaving_the_window_is_clamped_to_the_image():
    logic = logic_on(View.fit(640, 480))
    (action,) = drag(logic, (320, 240), (5000, -300))
    s = action.selection
    assert (s.x, s.y, s.width, s.height) == (0.5, 0.0, 0.5, 0.5)


def test_keys():
    logic = logic_on(View.fit(640, 480))
    assert logic.on_key(-1) == []
    (stop,) = logic.on_key(ord("s"))
    assert stop.selection.command == Command.STOP
    assert logic.on_key(ord("f")) == [Follow(True)]  # no status yet: engage
    assert logic.on_key(ord("f")) == [Follow(False)]
    logic.set_follow_engaged(True)  # follow_status is the truth
    assert logic.on_key(ord("f") | 0x100000) == [Follow(False)]  # modifier bits ignored
    assert logic.on_key(ord("x")) == []
    assert logic.on_key(ord("q")) == [Quit()]
    logic.on_mouse(MOUSE_DOWN, 10, 10)
    assert logic.on_key(KEY_ESC) == [] and not logic.frozen  # Esc cancels a drag first...
    assert logic.on_mouse(MOUSE_UP, 100, 100) == []
    assert logic.on_key(KEY_ESC) == [Quit()]  # ...then quits


def test_overlay_draws_without_a_display():
    logic = logic_on(View.fit(320, 240))
    logic.on_mouse(MOUSE_DOWN, 10, 10)
    logic.on_mouse(MOUSE_MOVE, 100, 80)
    image = np.zeros((240, 320, 3), np.uint8)
    out = draw_overlay(image, logic, "follower: IDLE")
    assert out is image and out[10, 50, 0] == 0 and min(out[10, 50, 1:]) > 200  # the rubber band (yellow)
    assert out[200:, :].any()  # help and status text
