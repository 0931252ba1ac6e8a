"""Training pairs for the search in SEAT's geometry, with its targets.

Sources follow the training pipeline's protocol (``sample_pair(rng, max_gap)`` -> template
frame, box, search frame, box; frames ``crop(cx, cy, side, out_size)`` -> RGB uint8), so
its datasets plug in (``training.datasets.build_source``); ``ProceduralPairs`` is a tiny
generator of moving textured shapes for tests and smoke runs.

Targets on the score grid g = (i - n//2) * stride + S//2: cls = 1 within ``radius`` cells
of the target centre, else 0; reg = distances l, t, r, b from g to the box edges, used
where g lies inside the box.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..models.seat.arch import SeatArch
from ..sampling.geometry import crop_matrix, crop_origin
from ..tracking.seat_tracker import context_side

TEMPLATE_SHIFT, TEMPLATE_SCALE = 4.0 / 127, 0.05  # of the crop side / log-normal sigma
SEARCH_SHIFT, SEARCH_SCALE = 64.0 / 255, 0.18


class PairSource(Protocol):
    def sample_pair(self, rng: np.random.Generator, max_gap: int) -> tuple | None: ...


class ArrayFrame:
    """An in-memory RGB image with the training pipeline's crop geometry (mean padding)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.mean = tuple(float(v) for v in image.reshape(-1, 3).mean(0))

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        m = crop_matrix(cx, cy, side, out_size)
        return cv2.warpAffine(self.image, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderValue=self.mean)


class ProceduralPairs:
    """Smooth-noise backgrounds with one textured ellipse or rectangle moving between the two
    frames (and a distractor); cheap enough for CI.
    """

    def __init__(self, width: int = 320, height: int = 240) -> None:
        self.width, self.height = width, height

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        small = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
        image = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_CUBIC)
        return cv2.add(image, rng.integers(0, 24, image.shape, dtype=np.uint8))

    def _draw(self, image: np.ndarray, box: np.ndarray, colour: tuple, stripes: tuple, ellipse: bool) -> None:
        x, y, w, h = (int(round(v)) for v in box)
        if ellipse:
            cv2.ellipse(image, (x + w // 2, y + h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, colour, -1)
        else:
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
        for k in range(1, 4):
            cv2.line(image, (x + k * w // 4, y), (x + k * w // 4, y + h), stripes, max(1, w // 12))

    def sample_pair(self, rng: np.random.Generator, max_gap: int = 1) -> tuple:
        w, h = rng.uniform(24, 72), rng.uniform(24, 72)
        cx, cy = rng.uniform(w, self.width - w), rng.uniform(h, self.height - h)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        stripes = tuple(int(v) for v in rng.integers(0, 256, 3))
        ellipse = bool(rng.integers(2))
        frames, boxes = [], []
        for step in range(2):
            image = self._background(rng) if step == 0 else frames[0].image.copy()
            if step:
                cx = float(np.clip(cx + rng.normal(0, 0.3 * w), w / 2, self.width - w / 2))
                cy = float(np.clip(cy + rng.normal(0, 0.3 * h), h / 2, self.height - h / 2))
                w, h = w * math.exp(rng.normal(0, 0.1)), h * math.exp(rng.normal(0, 0.1))
                d = np.array([rng.uniform(0, self.width - w), rng.uniform(0, self.height - h), w, h])
                self._draw(image, d, stripes, colour, ellipse)  # distractor
            box = np.array([cx - w / 2, cy - h / 2, w, h])
            self._draw(image, box, colour, stripes, ellipse)
            frames.append(ArrayFrame(image))
            boxes.append(box)
        return frames[0], boxes[0], frames[1], boxes[1]


def targets(box_xyxy: np.ndarray, size: int, n: int, stride: int, radius: float = 2.0) -> dict[str, np.ndarray]:
    """Targets for a box in search-crop px: cls (n, n), reg target (n, n, 4), reg weight (n, n)."""
    g = (np.arange(n) - n // 2) * stride + size // 2
    gx, gy = np.meshgrid(g, g)
    x1, y1, x2, y2 = box_xyxy
    dist = np.hypot(gx - (x1 + x2) / 2, gy - (y1 + y2) / 2) / stride
    reg = np.stack([gx - x1, gy - y1, x2 - gx, y2 - gy], -1).astype(np.float32)
    return {
        "cls_label": (dist <= radius).astype(np.float32),
        "reg_target": reg,
        "reg_weight": (reg.min(-1) > 0).astype(np.float32),
    }


class SeatPairs(Dataset):
    """``samples`` pairs per epoch; sample ``k`` of ``epoch`` is a pure function of
    (seed, epoch, k). ``split``: "weights" takes 9 of every 10 sample ids, "arch" the 10th.
    """

    def __init__(
        self, sources: Sequence[PairSource], arch: SeatArch, samples: int, seed: int = 0, split: str = "weights"
    ) -> None:
        if split not in ("weights", "arch"):
            raise ValueError(f"split must be 'weights' or 'arch', got {split!r}")
        self.sources, self.arch, self.samples, self.seed, self.split = list(sources), arch, samples, seed, split
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples

    def _id(self, k: int) -> int:
        return 10 * k if self.split == "arch" else 10 * (k // 9) + 1 + k % 9

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, self._id(k)))
        for _ in range(50):
            source = self.sources[int(rng.integers(len(self.sources)))]
            pair = source.sample_pair(rng, 100)
            if pair is not None:
                item = self._make(rng, *pair)
                if item is not None:
                    return item
        raise RuntimeError("no usable training pair in 50 draws; check the data sources")

    def _make(self, rng: np.random.Generator, t_frame, t_box, s_frame, s_box) -> dict | None:
        a, ctx = self.arch, self.arch.tracker.context_amount
        t_size, s_size = a.template_size, a.search_size
        tw, th = float(t_box[2]), float(t_box[3])
        side_z = max(1, round(context_side(tw, th, ctx) * math.exp(rng.normal(0, TEMPLATE_SCALE))))
        cx = float(t_box[0]) + tw / 2 + rng.uniform(-1, 1) * TEMPLATE_SHIFT * side_z
        cy = float(t_box[1]) + th / 2 + rng.uniform(-1, 1) * TEMPLATE_SHIFT * side_z
        template = t_frame.crop(cx, cy, side_z, t_size)
        t_xyxy = _box_to_crop(t_box, cx, cy, side_z, t_size)
        sw, sh = float(s_box[2]), float(s_box[3])
        side_x = max(1, round(context_side(sw, sh, ctx) * s_size / t_size * math.exp(rng.normal(0, SEARCH_SCALE))))
        cx = float(s_box[0]) + sw / 2 + rng.uniform(-1, 1) * SEARCH_SHIFT * side_x
        cy = float(s_box[1]) + sh / 2 + rng.uniform(-1, 1) * SEARCH_SHIFT * side_x
        search = s_frame.crop(cx, cy, side_x, s_size)
        s_xyxy = _box_to_crop(s_box, cx, cy, side_x, s_size)
        if min(s_xyxy[2] - s_xyxy[0], s_xyxy[3] - s_xyxy[1]) < 2:
            return None
        out = {
            # RGB crops -> the network's raw BGR 0..255 CHW
            "template": torch.from_numpy(np.ascontiguousarray(template[:, :, ::-1].transpose(2, 0, 1))).float(),
            "template_box": torch.from_numpy(t_xyxy),
            "search": torch.from_numpy(np.ascontiguousarray(search[:, :, ::-1].transpose(2, 0, 1))).float(),
        }
        labels = targets(s_xyxy, s_size, a.search_feat(), a.stride)
        return out | {k: torch.from_numpy(v) for k, v in labels.items()}


def _box_to_crop(box: np.ndarray, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
    x0, y0 = crop_origin(cx, cy, side)
    s = out_size / side
    x, y, w, h = (float(v) for v in box)
    return np.array([(x - x0) * s, (y - y0) * s, (x + w - x0) * s, (y + h - y0) * s], np.float32)
