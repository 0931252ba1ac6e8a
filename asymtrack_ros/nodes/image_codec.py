"""``sensor_msgs`` images to and from BGR numpy arrays, without cv_bridge.

Validation is cheap and happens on reception (a malformed message is rejected at
once); colour conversion and JPEG/PNG decoding are deferred to the worker, which
converts only the frames it uses. ``bgr8`` frames stay zero-copy views of the
message buffer, row padding (``step``) included.
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

CHANNELS = {"bgr8": 3, "rgb8": 3, "bgra8": 4, "rgba8": 4, "mono8": 1}
_TO_BGR = {
    "rgb8": cv2.COLOR_RGB2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
}


def image_view(msg: Any) -> tuple[np.ndarray, str]:
    """A zero-copy HxWxC uint8 view of a ``sensor_msgs/Image`` and its encoding;
    raises ValueError naming what is wrong.
    """
    encoding = msg.encoding.lower()
    if encoding not in CHANNELS:
        raise ValueError(f"unsupported encoding {msg.encoding!r} (supported: {', '.join(CHANNELS)})")
    channels = CHANNELS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height < 1 or width < 1:
        raise ValueError(f"empty image ({width}x{height})")
    row = width * channels
    if step < row:
        raise ValueError(f"step {step} is smaller than width * channels = {row}")
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != step * height:
        raise ValueError(f"data has {data.size} bytes, expected step * height = {step * height}")
    return data.reshape(height, step)[:, :row].reshape(height, width, channels), encoding


def to_bgr(view: np.ndarray, encoding: str) -> np.ndarray:
    """BGR HxWx3: the view itself for bgr8, a converted copy otherwise."""
    if encoding == "bgr8":
        return view
    return cv2.cvtColor(view, _TO_BGR[encoding])


def image_loader(msg: Any) -> Callable[[], np.ndarray]:
    """Validates ``msg`` now (ValueError) and returns a function converting it later."""
    view, encoding = image_view(msg)
    return lambda: to_bgr(view, encoding)


def decode_compressed(data: Any) -> np.ndarray:
    """BGR HxWx3 from JPEG/PNG bytes (``sensor_msgs/CompressedImage.data``)."""
    buf = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if image is None:
        raise ValueError(f"cannot decode {buf.size} bytes of compressed image data")
    return image


def compressed_loader(msg: Any) -> Callable[[], np.ndarray]:
    data = msg.data
    return lambda: decode_compressed(data)


def fill_image_msg(msg: Any, image_bgr: np.ndarray) -> Any:
    """Fills a ``sensor_msgs/Image`` (bgr8) from a BGR array; returns it."""
    height, width = image_bgr.shape[:2]
    msg.height, msg.width = height, width
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = width * 3
    msg.data = np.ascontiguousarray(image_bgr).tobytes()
    return msg
