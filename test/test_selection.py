"""Selections to pixel boxes: normalised coordinates, validation, boxes grown around points."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import SEQUENCES

from asymtrack_ros.files.sequences import read_boxes
from asymtrack_ros.tracking.selection import (
    PointBoxParams,
    SelectionError,
    box_around_point,
    to_pixels,
    validate_box,
    validate_point,
)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def test_to_pixels():
    assert to_pixels(0.25, 0.5, 0.5, 0.25, True, 640, 480) == (160, 240, 320, 120)
    assert to_pixels(10, 20, 30, 40, False, 640, 480) == (10, 20, 30, 40)


def test_validate_box_clips_to_the_image():
    assert validate_box((10, 20, 30, 40), 640, 480) == (10, 20, 30, 40)
    assert validate_box((-10, -5, 30, 40), 640, 480) == (0, 0, 20, 35)
    assert validate_box((600, 450, 100, 100), 640, 480) == (600, 450, 40, 30)


@pytest.mark.parametrize(
    ("box", "why"),
    [
        ((math.nan, 0, 10, 10), "not finite"),
        ((0, 0, math.inf, 10), "not finite"),
        ((0, 0, 0, 10), "zero or negative"),
        ((0, 0, 10, -1), "zero or negative"),
        ((700, 10, 10, 10), "outside"),
        ((-50, 10, 40, 10), "outside"),
        ((10, 479.5, 10, 10), "outside"),  # less than a pixel inside
    ],
)
def test_validate_box_rejects(box, why):
    with pytest.raises(SelectionError, match=why):
        validate_box(box, 640, 480)


def test_validate_point():
    assert validate_point(0, 479.9, 640, 480) == (0, 479.9)
    for x, y in ((-1, 5), (640, 5), (5, 480), (math.nan, 5)):
        with pytest.raises(SelectionError):
            validate_point(x, y, 640, 480)


def test_point_box_params_validation():
    with pytest.raises(ValueError):
        PointBoxParams(default_size=8, min_size=16)
    with pytest.raises(ValueError):
        PointBoxParams(min_size=300, max_size=200)


def scene() -> np.ndarray:
    image = np.full((480, 640, 3), (40, 120, 40), np.uint8)
    cv2.rectangle(image, (300, 200), (379, 259), (20, 20, 220), -1)  # 80 x 60 red object
    return image


def test_box_around_point_finds_the_object():
    box, from_content = box_around_point(scene(), 330, 220, PointBoxParams())
    assert from_content
    assert iou(box, (300, 200, 80, 60)) > 0.8, box


def test_box_around_point_falls_back_on_uniform_and_noisy_images():
    params = PointBoxParams(default_size=50)
    uniform = np.full((480, 640, 3), 90, np.uint8)
    assert box_around_point(uniform, 320, 240, params) == ((295, 215, 50, 50), False)
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert box_around_point(noise, 320, 240, params) == ((295, 215, 50, 50), False)


def test_box_around_point_respects_limits_and_image_border():
    params = PointBoxParams(default_size=40, min_size=30, max_size=100)
    image = np.full((200, 300, 3), 200, np.uint8)
    cv2.rectangle(image, (0, 0), (19, 19), (0, 0, 0), -1)  # 20 x 20 in the corner
    box, from_content = box_around_point(image, 8, 8, params)
    assert from_content and box == (0, 0, 30, 30)  # grown to min_size, kept inside the image
    box, from_content = box_around_point(image, 299, 199, params)  # uniform: default, shifted inside
    assert not from_content and box == (260, 160, 40, 40)
    with pytest.raises(SelectionError):
        box_around_point(image, 300, 10, params)


def test_box_around_point_on_a_real_frame():
    gt = read_boxes(SEQUENCES / "Crossing" / "groundtruth_rect.txt")[0]
    image = cv2.imread(str(SEQUENCES / "Crossing" / "img" / "0001.jpg"))
    x, y, w, h = gt
    box, from_content = box_around_point(image, x + w / 2, y + h / 2, PointBoxParams())
    assert from_content and iou(box, gt) > 0.4, (box, gt)
