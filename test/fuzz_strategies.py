"""Hypothesis strategies shared by the fuzz tests: image messages and their serialized and
compressed forms, well-formed or broken in the ways a camera, a network or an attacker breaks them.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
from hypothesis import strategies as st
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from asymtrack_ros.nodes.image_codec import CHANNELS

U32 = 2**32 - 1
encodings = st.one_of(st.sampled_from(sorted(CHANNELS)), st.sampled_from(["BGR8", "16UC1", "yuv422", ""]), st.text())


@st.composite
def raw_images(draw) -> tuple[Image, bool]:
    """An Image message and whether it is well-formed: built consistent, then maybe broken."""
    encoding = draw(encodings)
    channels = CHANNELS.get(encoding.lower(), draw(st.integers(1, 4)))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    step = width * channels + draw(st.integers(0, 5))
    data = draw(st.binary(min_size=step * height, max_size=step * height))
    msg = Image(height=height, width=width, encoding=encoding, step=step, data=data)
    well_formed = encoding.lower() in CHANNELS
    change = draw(st.sampled_from(["none", "step", "height", "width", "truncate", "extend", "huge"]))
    if change == "step":
        msg.step = draw(st.integers(0, U32))
    elif change == "height":
        msg.height = draw(st.integers(0, U32))
    elif change == "width":
        msg.width = draw(st.integers(0, U32))
    elif change == "truncate":
        msg.data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif change == "extend":
        msg.data = data + draw(st.binary(min_size=1, max_size=64))
    elif change == "huge":
        msg.height, msg.width, msg.step = draw(st.integers(2**20, U32)), draw(st.integers(2**20, U32)), U32
    consistent = msg.width * channels <= msg.step and msg.height >= 1 and msg.width >= 1
    return msg, well_formed and consistent and len(msg.data) == msg.step * msg.height


@st.composite
def serialized_images(draw) -> tuple[bytes, Image | None]:
    """A serialized Image (the node's raw subscription), maybe cut, corrupted or random."""
    kind = draw(st.sampled_from(["intact", "cut", "flip", "random", "header"]))
    if kind == "random":
        return draw(st.binary(max_size=256)), None
    msg, _ = draw(raw_images())
    msg.header.stamp.sec = draw(st.integers(-(2**31), 2**31 - 1))
    msg.header.stamp.nanosec = draw(st.integers(0, U32))
    msg.header.frame_id = draw(st.text(max_size=12))
    data = bytearray(serialize_message(msg))
    if kind == "intact":
        return bytes(data), msg
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data) - 1))]), None
    if kind == "header":  # another or no CDR encapsulation
        data[:4] = draw(st.binary(min_size=4, max_size=4))
        return bytes(data), None
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data), None


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk announcing width x height, and no pixel data."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


@st.composite
def compressed_data(draw) -> tuple[bytes, tuple[int, int] | None]:
    """JPEG/PNG bytes, maybe cut or flipped; headers announcing huge images; random bytes."""
    kind = draw(st.sampled_from(["intact", "cut", "flip", "random", "huge_png"]))
    if kind == "random":
        return draw(st.binary(max_size=512)), None
    if kind == "huge_png":
        return png_header(draw(st.integers(1, U32)), draw(st.integers(1, U32))), None
    h, w = draw(st.integers(1, 32)), draw(st.integers(1, 32))
    seed = draw(st.integers(0, 2**16))
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(draw(st.sampled_from([".jpg", ".png"])), image)
    assert ok
    data = bytearray(buf.tobytes())
    if kind == "intact":
        return bytes(data), (h, w)
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data) - 1))]), None
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data), None
