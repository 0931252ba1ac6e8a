"""Demo outputs: the annotated camera view, the time plots and the summary text."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..tracking.draw import draw_track
from ..tracking.tracker import TrackState
from .loop import LoopResult, Sample, Summary, iou
from .world import Frame


def annotate(frame: Frame, s: Sample, standoff: float) -> np.ndarray:
    """BGR copy of the frame with the boxes, the image centre and its 10 % circle, and a HUD."""
    img = frame.image.copy()
    h, w = img.shape[:2]
    if s.gt_box is not None:
        x, y, bw, bh = (int(round(v)) for v in s.gt_box)
        cv2.rectangle(img, (x, y), (x + bw, y + bh), (255, 255, 255), 1)
    draw_track(img, s.box, TrackState(s.track_state) if s.box is not None else TrackState.LOST, s.score)
    cx, cy = w // 2, h // 2
    cv2.circle(img, (cx, cy), int(0.1 * w), (0, 255, 255), 1, cv2.LINE_AA)
    cv2.line(img, (cx - 8, cy), (cx + 8, cy), (0, 255, 255), 1)
    cv2.line(img, (cx, cy - 8), (cx, cy + 8), (0, 255, 255), 1)
    c, st = s.command, s.status
    lines = [
        f"t {s.t:5.1f} s  {st.state.name}",
        f"distance {s.distance:5.1f} m (set {standoff:.0f}, est {st.distance:5.1f})",
        f"vx {c.vx:+5.2f} vz {c.vz:+5.2f} m/s  yaw {math.degrees(c.yaw_rate):+5.1f} deg/s",
        f"gimbal pitch {math.degrees(c.gimbal_pitch_rate):+5.1f} yaw {math.degrees(c.gimbal_yaw_rate):+5.1f} deg/s",
    ]
    for i, text in enumerate(lines):
        org = (8, h - 10 - 20 * (len(lines) - 1 - i))
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def plot(result: LoopResult, standoff: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = result.image_size
    ss = result.samples
    t = np.array([s.t for s in ss])
    nan = float("nan")
    ex = np.array([(s.gt_box[0] + s.gt_box[2] / 2 - w / 2) / w * 100 if s.gt_box else nan for s in ss])
    ey = np.array([(s.gt_box[1] + s.gt_box[3] / 2 - h / 2) / w * 100 if s.gt_box else nan for s in ss])
    fig, ax = plt.subplots(4, 1, figsize=(11, 11), sharex=True)
    ax[0].plot(t, ex, label="horizontal")
    ax[0].plot(t, ey, label="vertical")
    ax[0].axhspan(-10, 10, color="g", alpha=0.1, label="±10 % of width")
    ax[0].set_ylabel("target centre error\n[% of image width]")
    ax[1].plot(t, [s.distance for s in ss], label="true")
    ax[1].plot(t, [s.status.distance for s in ss], label="estimated (box height)", alpha=0.7)
    ax[1].axhspan(0.8 * standoff, 1.2 * standoff, color="g", alpha=0.1, label="set-point ±20 %")
    ax[1].set_ylabel("standoff distance [m]")
    ax[2].plot(t, [s.command.vx for s in ss], label="vx [m/s]")
    ax[2].plot(t, [s.command.vz for s in ss], label="vz [m/s]")
    ax[2].plot(t, [math.degrees(s.command.yaw_rate) / 10 for s in ss], label="yaw rate [10 deg/s]")
    ax[2].plot(t, [math.degrees(s.command.gimbal_pitch_rate) / 10 for s in ss], label="gimbal pitch [10 deg/s]")
    ax[2].set_ylabel("commands")
    ax[3].plot(t, [iou(s.box, s.gt_box) for s in ss], label="IoU(box, truth)")
    ax[3].plot(t, [s.score for s in ss], label="score", alpha=0.6)
    ax[3].plot(t, [s.gt_unoccluded for s in ss], label="unoccluded fraction", alpha=0.6)
    ax[3].set_ylabel("tracking")
    ax[3].set_xlabel("time [s]")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(loc="upper right", fontsize=8)
    ax[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary_text(s: Summary, oracle: bool) -> str:
    def mark(value: float, bar: float, of: int) -> str:
        verdict = "meets" if value >= bar else "below"
        return f"{100 * value:5.1f} % of {of:4d} frames  ({verdict} the {100 * bar:.0f} % bar)"

    note = "  (oracle: the boxes are the ground truth)" if oracle else ""
    return "\n".join(
        [
            f"frames: {s.frames} ({s.counted_frames} with the target not hidden behind an occluder)",
            f"target tracked (IoU > 0.5):                  {mark(s.tracked, 0.9, s.counted_frames)}{note}",
            f"centred within 10 % of the width (tracked):  {mark(s.centred, 0.9, s.tracked_frames)}",
            f"standoff within 20 % of set-point (t > 5 s): {mark(s.standoff, 0.8, s.late_frames)}",
            f"mean centre error {s.mean_centre_error_px:.1f} px, mean |distance error| {s.mean_distance_error_m:.2f} m",
        ]
    )
