"""Image messages to BGR arrays (zero-copy where possible) and back, without ROS."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from asymtrack_ros.nodes.image_codec import (
    UnsupportedEncapsulation,
    compressed_loader,
    decode_compressed,
    fill_image_msg,
    image_loader,
    image_view,
    parse_image_cdr,
)

# lark (used by the rosidl parser that rclpy loads) imports deprecated stdlib modules.
pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

RNG = np.random.default_rng(1)
BGR = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)


def msg_of(data: np.ndarray, encoding: str, pad: int = 0) -> SimpleNamespace:
    h = data.shape[0]
    rows = data.reshape(h, -1)
    rows = np.concatenate([rows, np.full((h, pad), 7, np.uint8)], axis=1)
    return SimpleNamespace(
        height=h, width=data.shape[1], step=rows.shape[1], encoding=encoding, data=bytearray(rows.tobytes())
    )


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("bgr8", lambda im: im),
        ("rgb8", lambda im: im[:, :, ::-1]),
        ("bgra8", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)),
        ("rgba8", lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2RGBA)),
    ],
)
def test_colour_encodings_to_bgr(encoding, make, pad):
    image = image_loader(msg_of(np.ascontiguousarray(make(BGR)), encoding, pad))()
    assert image.shape == (6, 5, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, BGR)


def test_mono8_to_bgr():
    gray = BGR[:, :, 0].copy()
    image = image_loader(msg_of(gray[:, :, None], "mono8", pad=2))()
    np.testing.assert_array_equal(image, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize("pad", [0, 5])
def test_bgr8_is_a_view_of_the_message(pad):
    msg = msg_of(BGR, "BGR8", pad)  # encodings are matched case-insensitively
    image = image_loader(msg)()
    assert np.shares_memory(image, np.frombuffer(msg.data, np.uint8))
    np.testing.assert_array_equal(image, BGR)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"encoding": "16UC1"}, "unsupported encoding"),
        ({"encoding": "yuv422"}, "unsupported encoding"),
        ({"step": 14}, "step 14 is smaller"),
        ({"step": 16}, "expected step \\* height"),
        ({"height": 7}, "expected step \\* height"),
        ({"width": 0}, "empty image"),
        ({"data": b"\x00" * 10}, "10 bytes"),
    ],
)
def test_malformed_images_are_rejected(change, why):
    msg = msg_of(BGR, "bgr8")
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ValueError, match=why):
        image_view(msg)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_compressed(ext):
    ok, buf = cv2.imencode(ext, BGR)
    assert ok
    image = compressed_loader(SimpleNamespace(data=buf.tobytes()))()
    assert image.shape == BGR.shape
    if ext == ".png":
        np.testing.assert_array_equal(image, BGR)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff garbage", b"\x89PNG\r\n\x1a\n truncated"])
def test_undecodable_compressed(data):
    with pytest.raises(ValueError, match="cannot decode"):
        decode_compressed(data)


def test_fill_image_msg():
    msg = fill_image_msg(SimpleNamespace(), BGR[:, ::-1])  # non-contiguous input
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 5, 15, "bgr8")
    np.testing.assert_array_equal(image_loader(msg)(), BGR[:, ::-1])


@pytest.mark.parametrize("frame_id", ["", "c", "cam", "camera_optical_frame", "ünï"])
@pytest.mark.parametrize(("encoding", "width"), [("bgr8", 5), ("mono8", 3), ("rgba8", 7)])
def test_parse_image_cdr_matches_rclpy(frame_id, encoding, width):
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    channels = {"bgr8": 3, "mono8": 1, "rgba8": 4}[encoding]
    msg = Image(height=3, width=width, encoding=encoding, step=width * channels + 1, is_bigendian=0)
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = -7, 999_999_999, frame_id
    msg.data = bytes(RNG.integers(0, 256, msg.step * msg.height, dtype=np.uint8))
    raw = parse_image_cdr(serialize_message(msg))
    assert (raw.sec, raw.nanosec, raw.frame_id) == (-7, 999_999_999, frame_id)
    assert (raw.height, raw.width, raw.encoding, raw.step, raw.is_bigendian) == (3, width, encoding, msg.step, 0)
    assert bytes(raw.data) == bytes(msg.data)
    np.testing.assert_array_equal(image_view(raw)[0], image_view(msg)[0])


def test_parse_image_cdr_big_endian_and_errors():
    def s(text: bytes) -> bytes:  # a CDR string: length with the NUL, the bytes, the NUL
        return struct.pack(">I", len(text) + 1) + text + b"\0"

    # Big endian; fields 4-byte aligned from the end of the 4-byte encapsulation header.
    body = struct.pack(">iI", 12, 34) + s(b"cam") + struct.pack(">II", 1, 2) + s(b"mono8")  # 34 bytes
    body += b"\x01" + b"\0" + struct.pack(">II", 2, 2) + b"\x05\x06"  # is_bigendian, pad to 36, step, data
    raw = parse_image_cdr(b"\x00\x00\x00\x00" + body)
    assert (raw.sec, raw.nanosec, raw.frame_id, raw.height, raw.width, raw.encoding) == (12, 34, "cam", 1, 2, "mono8")
    assert (raw.is_bigendian, raw.step, bytes(raw.data)) == (1, 2, b"\x05\x06")
    with pytest.raises(ValueError, match="truncated"):
        parse_image_cdr(b"\x00\x00\x00\x00" + body[:-1])
    with pytest.raises(UnsupportedEncapsulation):
        parse_image_cdr(b"\x00\x09\x00\x00" + body)
