"""Fuzzed image messages (hypothesis): raw images of any encoding, size and step, truncated
or padded data, serialized messages cut or corrupted, compressed bytes truncated or
flipped. Each is either decoded to the image it describes or refused with ValueError
(the node's logged skip); nothing else may escape.
"""

from __future__ import annotations

import numpy as np
import pytest
from fuzz_strategies import compressed_data, raw_images, serialized_images
from hypothesis import example, given, settings
from sensor_msgs.msg import Image

from asymtrack_ros.nodes.image_codec import (
    CHANNELS,
    RawImage,
    decode_compressed,
    image_loader,
    parse_image_cdr,
)
from asymtrack_ros.nodes.tracker_node import deserialize_image

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

# Examples per boundary (docs/robustness.md lists them).
RAW_EXAMPLES = 600
CDR_EXAMPLES = 600
COMPRESSED_EXAMPLES = 400


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


@settings(max_examples=CDR_EXAMPLES)
@given(serialized_images())
@example((b"", None))
@example((b"\x00\x09\x00\x00abc", None))
def test_deserialization_fallback_refuses_what_is_no_image(case):
    """The node's path for CDR variants it does not parse itself: rclpy's RMWError for bytes
    that are no Image ended the node's spin; it is a ValueError (a logged skip) now.
    """
    data, intact = case
    try:
        msg = deserialize_image(data)
    except ValueError:
        assert intact is None
        return
    assert isinstance(msg, Image)
