"""Fuzzed image messages (hypothesis): raw images of any encoding, size and step, truncated
or padded data, serialized messages cut or corrupted, compressed bytes truncated or
flipped. Each is either decoded to the image it describes or refused with ValueError
(the node's logged skip); nothing else may escape.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from asymtrack_ros.nodes.image_codec import (
    CHANNELS,
    RawImage,
    decode_compressed,
    image_loader,
    parse_image_cdr,
)

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

# Examples per boundary (docs/robustness.md lists them).
RAW_EXAMPLES = 600
CDR_EXAMPLES = 600
COMPRESSED_EXAMPLES = 400

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


def check_decoded(msg, image: np.ndarray) -> None:
    """The decoded image is the message's pixels, converted to BGR."""
    assert image.shape == (msg.height, msg.width, 3) and image.dtype == np.uint8
    encoding, channels = msg.encoding.lower(), CHANNELS[msg.encoding.lower()]
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    pixels = rows.reshape(msg.height, msg.width, channels)
    first = {"bgr8": pixels[0, 0], "bgra8": pixels[0, 0, :3], "rgb8": pixels[0, 0, ::-1], "rgba8": pixels[0, 0, 2::-1]}
    expected = first.get(encoding, np.repeat(pixels[0, 0, :1], 3))
    np.testing.assert_array_equal(image[0, 0], expected)


@settings(max_examples=RAW_EXAMPLES)
@given(raw_images())
def test_raw_images_decode_or_are_refused(case):
    msg, well_formed = case
    if not well_formed:
        with pytest.raises(ValueError):
            image_loader(msg)
        return
    check_decoded(msg, image_loader(msg)())


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


@settings(max_examples=CDR_EXAMPLES)
@given(serialized_images())
def test_serialized_images_parse_or_are_refused(case):
    data, intact = case
    try:
        raw = parse_image_cdr(data)
    except ValueError:
        assert intact is None, "an intact serialized image was refused"
        return
    assert isinstance(raw, RawImage)
    if intact is not None:
        assert (raw.sec, raw.nanosec, raw.frame_id) == (
            intact.header.stamp.sec,
            intact.header.stamp.nanosec,
            intact.header.frame_id,
        )
        assert (raw.height, raw.width, raw.step, raw.encoding) == (
            intact.height,
            intact.width,
            intact.step,
            intact.encoding,
        )
        assert bytes(raw.data) == bytes(intact.data)
    try:
        image = image_loader(raw)()
    except ValueError:
        return
    check_decoded(raw, image)


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


@settings(max_examples=COMPRESSED_EXAMPLES)
@given(compressed_data())
def test_compressed_images_decode_or_are_refused(case):
    data, size = case
    try:
        image = decode_compressed(data)
    except ValueError:
        assert size is None, "an intact image was refused"
        return
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if size is not None:
        assert image.shape[:2] == size
