"""Benchmark metrics with the benchmarks' own definitions.

Boxes are x, y, w, h. OTB-style success and precision follow the OTB / GOT-10k toolkit
(IoU thresholds 0:0.05:1 with IoU strictly greater, centre-error thresholds 0..50 px
with error <= threshold, centres at x + (w - 1) / 2; every frame counts, the first one
too). GOT-10k AO / SR skip the first frame. Frames whose ground truth is absent (NaN or
non-positive size) are excluded everywhere, as LaSOT and GOT-10k do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0, 1, 21)
CE_THRESHOLDS = np.arange(0, 51)
NORM_THRESHOLDS = np.linspace(0, 0.5, 51)


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + (boxes[:, 2:] - 1) / 2


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(centers(pred) - centers(gt), axis=1)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm((centers(pred) - centers(gt)) / gt[:, 2:], axis=1)


def valid_frames(gt: np.ndarray) -> np.ndarray:
    return np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def success_curve(ious: np.ndarray) -> np.ndarray:
    return (ious[:, None] > IOU_THRESHOLDS[None, :]).mean(axis=0)


def precision_curve(errors: np.ndarray) -> np.ndarray:
    return (errors[:, None] <= CE_THRESHOLDS[None, :]).mean(axis=0)


def norm_precision_curve(errors: np.ndarray) -> np.ndarray:
    return (errors[:, None] <= NORM_THRESHOLDS[None, :]).mean(axis=0)


@dataclass
class SequenceScores:
    success: np.ndarray  # curve over IOU_THRESHOLDS
    precision: np.ndarray  # curve over CE_THRESHOLDS
    norm_precision: np.ndarray  # curve over NORM_THRESHOLDS
    ao: float
    sr50: float
    sr75: float
    lost_events: int  # times the overlap fell from > 0 to 0

    @property
    def auc(self) -> float:
        return float(self.success.mean())

    @property
    def precision20(self) -> float:
        return float(self.precision[20])

    @property
    def norm_precision_auc(self) -> float:
        return float(self.norm_precision.mean())

    def summary(self) -> dict[str, float]:
        return {
            "auc": self.auc,
            "precision20": self.precision20,
            "norm_precision": self.norm_precision_auc,
            "ao": self.ao,
            "sr50": self.sr50,
            "sr75": self.sr75,
            "lost_events": self.lost_events,
        }


def score_sequence(pred: np.ndarray, gt: np.ndarray) -> SequenceScores:
    """``pred`` and ``gt`` are [N, 4] for the same N frames (pred[0] is the init box)."""
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 4:
        raise ValueError(f"result and ground truth shapes differ: {pred.shape} vs {gt.shape}")
    ok = valid_frames(gt)
    if not ok.any():
        raise ValueError("ground truth has no valid frame")
    p, g = np.nan_to_num(pred[ok], nan=0.0), gt[ok]
    ious = iou(p, g)
    later = ok.copy()
    later[0] = False  # GOT-10k AO / SR exclude the initialisation frame
    ious_later = iou(np.nan_to_num(pred[later]), gt[later]) if later.any() else ious
    overlapping = ious > 0
    return SequenceScores(
        success=success_curve(ious),
        precision=precision_curve(center_error(p, g)),
        norm_precision=norm_precision_curve(normalized_center_error(p, g)),
        ao=float(ious_later.mean()),
        sr50=float((ious_later > 0.5).mean()),
        sr75=float((ious_later > 0.75).mean()),
        lost_events=int(np.sum(overlapping[:-1] & ~overlapping[1:])),
    )


# Target size buckets: sqrt(w * h) of the ground truth in pixels of a frame scaled to 720
# lines, so that a 1280x720 drone view and the same view thinned to 480 px wide agree.
SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("small (<30 px)", 0.0, 30.0),
    ("medium (30-80 px)", 30.0, 80.0),
    ("large (>=80 px)", 80.0, float("inf")),
)


def size_at_720(gt: np.ndarray, frame_height: int) -> np.ndarray:
    return np.sqrt(gt[:, 2] * gt[:, 3]) * (720.0 / frame_height)


def ious_by_size(pred: np.ndarray, gt: np.ndarray, frame_height: int) -> dict[str, np.ndarray]:
    """Per-frame IoU of the valid frames, split by the target's size bucket."""
    ok = valid_frames(gt)
    ious = iou(np.nan_to_num(pred[ok], nan=0.0), gt[ok])
    size = size_at_720(gt[ok], frame_height)
    return {name: ious[(size >= lo) & (size < hi)] for name, lo, hi in SIZE_BUCKETS}


def aggregate_by_size(parts: list[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Success AUC over all frames of each bucket (frames pooled across sequences)."""
    out = {}
    for name, _, _ in SIZE_BUCKETS:
        ious = np.concatenate([p[name] for p in parts]) if parts else np.zeros(0)
        if len(ious):
            out[name] = {"auc": float(success_curve(ious).mean()), "frames": int(len(ious))}
    return out


def aggregate(scores: list[SequenceScores]) -> dict[str, float | list[float]]:
    """Mean over sequences of the per-sequence curves and scores (the OTB convention)."""
    success = np.mean([s.success for s in scores], axis=0)
    precision = np.mean([s.precision for s in scores], axis=0)
    norm = np.mean([s.norm_precision for s in scores], axis=0)
    return {
        "auc": float(success.mean()),
        "precision20": float(precision[20]),
        "norm_precision": float(norm.mean()),
        "ao": float(np.mean([s.ao for s in scores])),
        "sr50": float(np.mean([s.sr50 for s in scores])),
        "sr75": float(np.mean([s.sr75 for s in scores])),
        "lost_events": int(sum(s.lost_events for s in scores)),
        "success_curve": success.tolist(),
        "precision_curve": precision.tolist(),
    }
