"""Image messages to BGR arrays (zero-copy where possible) and back, without ROS."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from asymtrack_ros.nodes.image_codec import (
    compressed_loader,
    decode_compressed,
    fill_image_msg,
    image_loader,
    image_view,
)

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
