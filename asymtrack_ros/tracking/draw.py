"""Annotating frames with the tracked box (CLI videos and the node's debug image)."""

from __future__ import annotations

import cv2
import numpy as np

from .tracker import TrackState

COLORS_BGR = {TrackState.TRACKING: (0, 220, 0), TrackState.LOST: (0, 0, 255), TrackState.IDLE: (160, 160, 160)}


def draw_track(frame_bgr: np.ndarray, box: tuple[float, ...] | None, state: TrackState, score: float) -> np.ndarray:
    """Draws in place on a BGR frame and returns it."""
    color = COLORS_BGR[state]
    if box is not None and state != TrackState.IDLE:
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(frame_bgr, (x, y), (x + w, y + h), color, 2)
    label = f"{state.name} {score:.2f}" if state != TrackState.IDLE else "IDLE"
    cv2.putText(frame_bgr, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, color, 2, cv2.LINE_AA)
    return frame_bgr
