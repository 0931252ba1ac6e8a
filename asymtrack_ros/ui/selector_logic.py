"""Desktop selector logic, free of ROS and of any display: mouse and key events in,
actions (selection, follower toggle, quit) out.

A drag selects a box, a click a point. The frame on screen is frozen from mouse-down
to mouse-up, so the box is drawn on one frame and carries that frame's stamp: the
tracker initialises on exactly that frame and catches up through the newer ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..tracking.session import Command, Selection

# Mouse events as the node reports them (the values of cv2.EVENT_*).
MOUSE_DOWN = cv2.EVENT_LBUTTONDOWN
MOUSE_MOVE = cv2.EVENT_MOUSEMOVE
MOUSE_UP = cv2.EVENT_LBUTTONUP
KEY_ESC = 27
HELP = "drag: box  click: point  s: stop  f: follower  q: quit"


@dataclass(frozen=True)
class View:
    """A source image shown scaled to ``display_w`` x ``display_h`` pixels."""

    image_w: int
    image_h: int
    display_w: int
    display_h: int

    @classmethod
    def fit(cls, image_w: int, image_h: int, max_w: int = 0, max_h: int = 0) -> View:
        """Scaled down (never up) to fit ``max_w`` x ``max_h``; 0 leaves that side free."""
        if image_w < 1 or image_h < 1:
            raise ValueError(f"empty image {image_w}x{image_h}")
        scale = 1.0
        if max_w > 0:
            scale = min(scale, max_w / image_w)
        if max_h > 0:
            scale = min(scale, max_h / image_h)
        return cls(image_w, image_h, max(1, round(image_w * scale)), max(1, round(image_h * scale)))

    @property
    def scaled(self) -> bool:
        return (self.display_w, self.display_h) != (self.image_w, self.image_h)

    def clamp(self, wx: float, wy: float) -> tuple[float, float]:
        """Window coordinates kept inside the shown image (a drag may leave the window)."""
        return min(max(float(wx), 0.0), float(self.display_w)), min(max(float(wy), 0.0), float(self.display_h))

    def to_image(self, wx: float, wy: float) -> tuple[float, float]:
        """Source-image pixel coordinates of window pixel (wx, wy), clamped to the image."""
        cx, cy = self.clamp(wx, wy)
        return cx * self.image_w / self.display_w, cy * self.image_h / self.display_h

    def to_normalized(self, wx: float, wy: float) -> tuple[float, float]:
        cx, cy = self.clamp(wx, wy)
        return cx / self.display_w, cy / self.display_h


@dataclass(frozen=True)
class Select:
    selection: Selection


@dataclass(frozen=True)
class Follow:
    enable: bool


@dataclass(frozen=True)
class Quit:
    pass


Action = Select | Follow | Quit


class SelectorLogic:
    """Drag/click state machine and key bindings. Feed it frames (``on_frame``), mouse
    events in window coordinates (``on_mouse``) and keys (``on_key``); it returns actions.
    """

    def __init__(self, click_px: float = 5.0, min_box_px: float = 4.0, source: str = "selector") -> None:
        self.click_px = click_px  # a press and release closer than this is a click
        self.min_box_px = min_box_px  # thinner drags select nothing
        self.source = source
        self.view: View | None = None
        self.stamp_ns = 0  # stamp of the frame on screen
        self.follow_engaged: bool | None = None  # None: no follow_status seen yet
        self.message = ""
        self._down: tuple[float, float] | None = None  # press position (clamped window px)
        self._cursor: tuple[float, float] = (0.0, 0.0)
        self._down_view: View | None = None
        self._down_stamp = 0

    @property
    def frozen(self) -> bool:
        """True while a drag is in progress: keep the frame on screen, do not show new ones."""
        return self._down is not None

    def on_frame(self, stamp_ns: int, view: View) -> bool:
        """A new frame wants to be shown; returns False while frozen (keep the old one)."""
        if self.frozen:
            return False
        self.stamp_ns, self.view = stamp_ns, view
        return True

    def set_follow_engaged(self, engaged: bool) -> None:
        self.follow_engaged = engaged

    def drag_rect(self) -> tuple[int, int, int, int] | None:
        """The rubber band in window pixels (x1, y1, x2, y2), or None when not dragging."""
        if self._down is None:
            return None
        (x0, y0), (x1, y1) = self._down, self._cursor
        return round(min(x0, x1)), round(min(y0, y1)), round(max(x0, x1)), round(max(y0, y1))

    def on_mouse(self, event: int, wx: float, wy: float) -> list[Action]:
        view = self.view if self._down is None else self._down_view
        if view is None or not (math.isfinite(wx) and math.isfinite(wy)):
            return []
        pos = view.clamp(wx, wy)
        if event == MOUSE_DOWN:
            self._down, self._cursor = pos, pos
            self._down_view, self._down_stamp = view, self.stamp_ns
            return []
        if self._down is None:
            return []
        self._cursor = pos
        if event != MOUSE_UP:
            return []
        (x0, y0), (x1, y1) = self._down, pos
        self._down = None
        if math.hypot(x1 - x0, y1 - y0) < self.click_px:
            nx, ny = view.to_normalized(x0, y0)
            self.message = f"point ({nx:.3f}, {ny:.3f})"
            return [self._select(Command.SELECT_POINT, nx, ny)]
        if abs(x1 - x0) < self.min_box_px or abs(y1 - y0) < self.min_box_px:
            self.message = "box too thin: ignored"
            return []
        ax, ay = view.to_normalized(min(x0, x1), min(y0, y1))
        bx, by = view.to_normalized(max(x0, x1), max(y0, y1))
        self.message = f"box ({ax:.3f}, {ay:.3f}, {bx - ax:.3f}, {by - ay:.3f})"
        return [self._select(Command.SELECT_BOX, ax, ay, bx - ax, by - ay)]

    def _select(self, command: Command, x: float, y: float, w: float = 0.0, h: float = 0.0) -> Select:
        return Select(Selection(int(command), x, y, w, h, True, self._down_stamp, self.source))

    def on_key(self, key: int) -> list[Action]:
        """``key``: cv2.waitKey's value (-1: none); only the low byte counts."""
        if key < 0:
            return []
        key &= 0xFF
        if key == KEY_ESC and self._down is not None:
            self._down = None
            self.message = "selection cancelled"
            return []
        if key in (ord("q"), ord("Q"), KEY_ESC):
            return [Quit()]
        if key in (ord("s"), ord("S")):
            self.message = "stop"
            return [Select(Selection(int(Command.STOP), source=self.source))]
        if key in (ord("f"), ord("F")):
            enable = not self.follow_engaged
            self.follow_engaged = enable  # until follow_status says otherwise
            self.message = "engaging the follower" if enable else "disengaging the follower"
            return [Follow(enable)]
        return []


def draw_overlay(display_bgr: np.ndarray, logic: SelectorLogic, follow_text: str = "") -> np.ndarray:
    """Rubber band, help line and messages drawn in place on the shown frame; returns it."""
    rect = logic.drag_rect()
    if rect is not None:
        cv2.rectangle(display_bgr, rect[:2], rect[2:], (0, 255, 255), 1, cv2.LINE_AA)
    h = display_bgr.shape[0]
    lines = [t for t in (follow_text, logic.message) if t]
    for i, text in enumerate(reversed([*lines, HELP])):
        y = h - 8 - 18 * i
        cv2.putText(display_bgr, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(display_bgr, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return display_bgr
