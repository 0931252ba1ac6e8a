"""The tracker's per-frame time outside the network, part by part.

A frame costs the network's search step plus what the package adds around it: the search
crop and its normalisation, the colour check, the post-processing (corner posterior, the
plausibility factor, size smoothing, the TRACKING / LOST state machine) and, in the node,
turning the received message into an array. Each part is timed where it runs, inside the
same ``update`` calls, on a 640x480 BGR frame sequence with a moving target; the
post-processing is what remains of each ``update`` once the timed parts are taken out.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import cv2
import numpy as np

from ..engines.factory import load_engine
from ..tracking.asymtrack_tracker import AsymTrackTracker
from ..tracking.tracker import TrackerParams

SIZE = (480, 640)
TARGET = (48, 64)  # h, w of the moving target


class _Stopwatch:
    """Wraps a callable and adds up the seconds its calls take."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def synthetic_frames(count: int, seed: int = 0) -> tuple[list[np.ndarray], tuple[float, float, float, float]]:
    """BGR frames of a textured target drifting over a textured background, and its first box."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    background = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    target = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), TARGET[::-1], interpolation=cv2.INTER_NEAREST)
    frames = []
    for t in range(count):
        x, y = int(280 + 120 * np.sin(t / 40)), int(200 + 80 * np.cos(t / 55))
        frame = background.copy()
        frame[y : y + TARGET[0], x : x + TARGET[1]] = target
        frames.append(frame)
    return frames, (280.0, 280.0, float(TARGET[1]), float(TARGET[0]))


def _message_conversion_ms(frame: np.ndarray, repeats: int) -> float | None:
    """Median ms from a serialized bgr8 ``sensor_msgs/Image`` to the array the worker tracks,
    as the node receives it (None without the ROS message packages).
    """
    try:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image

        from ..nodes.image_codec import fill_image_msg, image_view, parse_image_cdr, to_bgr
    except ImportError:
        return None
    buf = serialize_message(fill_image_msg(Image(), frame))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        to_bgr(*image_view(parse_image_cdr(buf)))
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def run_overhead(model: str | None = None, frames: int = 300, threads: int = 1) -> dict:
    """Median ms per frame of each part over ``frames`` updates of the shipped AsymTrack-T
    (or ``model``) on onnxruntime CPU, the default engine path of a CPU-only robot. Medians
    of per-frame figures, as for every latency here: on a shared machine a preempted
    frame would otherwise charge its wait to whichever short part it fell in.
    """
    engine = load_engine(model, engine="onnxruntime", providers=("cpu",), threads=threads)
    tracker = AsymTrackTracker(engine, TrackerParams(bgr_input=True))
    images, box = synthetic_frames(frames + 1)
    tracker.init(images[0], box)
    watches = {"network": _Stopwatch(engine.track), "crop and normalisation": _Stopwatch(tracker._search_crop)}
    engine.track = watches["network"]  # instance attributes: the tracker calls these
    tracker._search_crop = watches["crop and normalisation"]
    if tracker._colours is not None:
        watches["colour check"] = tracker._colours.agreement = _Stopwatch(tracker._colours.agreement)
    per_frame: dict[str, list[float]] = {name: [] for name in [*watches, "post-processing", "frame"]}
    for image in images[1:]:
        before = {name: w.seconds for name, w in watches.items()}
        t0 = time.perf_counter()
        tracker.update(image)
        total = time.perf_counter() - t0
        spent = {name: w.seconds - before[name] for name, w in watches.items()}
        for name, seconds in spent.items():
            per_frame[name].append(seconds)
        per_frame["post-processing"].append(max(0.0, total - sum(spent.values())))
        per_frame["frame"].append(total)
    ms = {name: 1000 * float(np.median(v)) for name, v in per_frame.items()}
    outside = 1000 * float(np.median(np.subtract(per_frame["frame"], per_frame["network"])))
    conversion = _message_conversion_ms(images[0], min(frames, 100))
    frame_ms = ms.pop("frame")
    if conversion is not None:
        ms["message conversion (node)"] = conversion
        frame_ms, outside = frame_ms + conversion, outside + conversion
    return {
        "frames": frames,
        "engine": f"{engine.name} {engine.provider} {engine.spec.precision}",
        "parts_ms": {k: round(v, 3) for k, v in ms.items()},
        "frame_ms": round(frame_ms, 3),
        "outside_network_ms": round(outside, 3),
        "outside_network_share": round(outside / frame_ms, 3),
    }


def format_overhead(r: dict) -> str:
    lines = [
        f"per-frame time outside the network ({r['engine']}, 640x480, median of {r['frames']} frames): "
        f"{r['outside_network_ms']} ms of {r['frame_ms']} ms ({r['outside_network_share']:.0%})",
        "",
        "| part | ms/frame | share of frame |",
        "|---|---|---|",
    ]
    for name, value in r["parts_ms"].items():
        lines.append(f"| {name} | {value} | {value / r['frame_ms']:.1%} |")
    return "\n".join(lines)
