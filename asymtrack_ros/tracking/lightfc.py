"""LightFC (Li et al., a lightweight fully convolutional Siamese tracker; MIT) from its two
published ONNX graphs: a peer to compare against (``asymtrack eval --tracker lightfc:PATH``)
and a tracking teacher (``training/tracking_teacher.py``). Its crops are AsymTrack-T's:
template 2x sqrt(w*h) -> 128 px, search 4x -> 256 px, RGB with ImageNet normalisation.

Graphs: backbone(template [1,3,128,128]) -> template_features [1,96,8,8];
tracking(template_features, search [1,3,256,256]) -> score_map [1,1,16,16] (a
probability), size_map [1,2,16,16] (w, h) and offset_map [1,2,16,16] (x, y), sizes and
centres as fractions of the search crop. The tracker weighs the score map with a centred
Hann window, reads the box at its peak and clips it to the image with a 2 px margin, as the
authors' tracker does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..contracts.spec import IMAGENET_MEAN, IMAGENET_STD
from .crop import CropSampler, crop_box_to_image

BACKBONE_FILE = "lightfc_w8a8_backbone_opset12.onnx"
TRACKING_FILE = "lightfc_w8a8_tracking_opset12.onnx"
TEMPLATE_SIZE, SEARCH_SIZE, MAP_SIZE = 128, 256, 16
TEMPLATE_FACTOR, SEARCH_FACTOR = 2.0, 4.0
CLIP_MARGIN = 2.0


def model_files(spec: str | Path) -> tuple[Path, Path]:
    """A folder holding the two published files, or ``BACKBONE.onnx,TRACKING.onnx``."""
    text = str(spec)
    if "," in text:
        parts = [Path(p) for p in text.split(",")]
        if len(parts) != 2:
            raise ValueError(f"lightfc needs a folder or BACKBONE.onnx,TRACKING.onnx, got {text!r}")
    else:
        parts = [Path(text) / BACKBONE_FILE, Path(text) / TRACKING_FILE]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ValueError(f"lightfc: model file(s) not found: {missing}")
    return parts[0], parts[1]


def hann_window(size: int = MAP_SIZE) -> np.ndarray:
    """The centred 2-D Hann window (zero just outside the map, not on its border)."""
    w = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, size + 1) / (size + 1)))
    return np.outer(w, w).astype(np.float32)


class LightFCNet:
    """The two graphs on onnxruntime's CPU provider (batch 1)."""

    def __init__(self, spec: str | Path, threads: int = 0, spin: bool = True) -> None:
        """``spin=False``: the threads do not spin-wait between calls (sessions taking turns)."""
        import onnxruntime as ort

        backbone, tracking = model_files(spec)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self._backbone = ort.InferenceSession(str(backbone), opts, providers=providers)
        self._tracking = ort.InferenceSession(str(tracking), opts, providers=providers)

    def template_features(self, template: np.ndarray) -> np.ndarray:
        """``template``: normalised float32 [1, 3, 128, 128]."""
        return self._backbone.run(None, {"template": template})[0]

    def maps(self, features: np.ndarray, search: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Score [1,1,16,16], size [1,2,16,16] and offset [1,2,16,16] for a normalised search crop."""
        score, size, offset = self._tracking.run(None, {"template_features": features, "search": search})
        return score, size, offset


def decode(
    score: np.ndarray, size: np.ndarray, offset: np.ndarray, window: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The box (cx, cy, w, h, fractions of the search crop) at the (windowed) score peak,
    and the raw score there.
    """
    s = score[0, 0] * window if window is not None else score[0, 0]
    iy, ix = np.unravel_index(int(np.argmax(s)), s.shape)
    n = s.shape[0]
    box = np.array(
        [(ix + offset[0, 0, iy, ix]) / n, (iy + offset[0, 1, iy, ix]) / n, size[0, 0, iy, ix], size[0, 1, iy, ix]],
        np.float32,
    )
    return box, float(score[0, 0, iy, ix])


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """x, y, w, h kept inside the image, at least ``CLIP_MARGIN`` pixels on each side."""
    x, y, w, h = box
    x1, y1 = min(max(0.0, x), width - CLIP_MARGIN), min(max(0.0, y), height - CLIP_MARGIN)
    x2, y2 = min(max(CLIP_MARGIN, x + w), width), min(max(CLIP_MARGIN, y + h), height)
    return x1, y1, max(CLIP_MARGIN, x2 - x1), max(CLIP_MARGIN, y2 - y1)


class LightFCTracker:
    """The authors' tracking procedure over ``LightFCNet``; frames BGR (as OpenCV decodes)."""

    name = "LightFC"

    def __init__(self, spec: str | Path, threads: int = 0, spin: bool = True) -> None:
        self.net = LightFCNet(spec, threads, spin)
        self._template = CropSampler(TEMPLATE_SIZE, IMAGENET_MEAN, IMAGENET_STD, 1 / 255, bgr_input=True)
        self._search = CropSampler(SEARCH_SIZE, IMAGENET_MEAN, IMAGENET_STD, 1 / 255, bgr_input=True)
        self._window = hann_window()
        self._features: np.ndarray | None = None
        self._box = (0.0, 0.0, 0.0, 0.0)
        self.score = 0.0

    def init(self, frame: np.ndarray, box: tuple[float, ...]) -> None:
        x, y, w, h = (float(v) for v in box[:4])
        if not (w > 0 and h > 0 and all(map(math.isfinite, (x, y, w, h)))):
            raise ValueError(f"LightFC: initial box must have a positive finite size, got {box}")
        side = CropSampler.side_for(w, h, TEMPLATE_FACTOR)
        tensor, _, _ = self._template(frame, x + w / 2, y + h / 2, side)
        self._features = self.net.template_features(tensor)
        self._box, self.score = (x, y, w, h), 1.0

    def update(self, frame: np.ndarray) -> tuple[float, float, float, float]:
        if self._features is None:
            raise RuntimeError("LightFC: update before init")
        x, y, w, h = self._box
        side = CropSampler.side_for(w, h, SEARCH_FACTOR)
        tensor, x0, y0 = self._search(frame, x + w / 2, y + h / 2, side)
        box, self.score = decode(*self.net.maps(self._features, tensor), self._window)
        self._box = clip_box(crop_box_to_image(box, x0, y0, side), frame.shape[1], frame.shape[0])
        return self._box
