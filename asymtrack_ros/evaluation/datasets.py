"""Benchmark sequences in their published layouts, as one ``Sequence`` type.

Ground truth rows of NaN mark frames without the target. Every reader raises
``ValueError`` naming the file (and line) it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files.sequences import IMAGE_SUFFIXES, FrameSource, open_frames, read_boxes, read_name_list, read_text


@dataclass
class Sequence:
    name: str
    frames: FrameSource
    groundtruth: np.ndarray  # [N, 4] x, y, w, h; NaN rows: target absent
    init_box: tuple[float, float, float, float]


def first_frames(seq: Sequence, count: int) -> Sequence:
    """The sequence's first ``count`` frames: a cheaper protocol (learning curves on a busy
    CPU), still tracked from the first frame's box.
    """
    if seq.frames.images is None:
        raise ValueError(f"{seq.name}: only image-folder sequences can be cut to their first frames")
    images = seq.frames.images[:count]
    return replace(
        seq, frames=replace(seq.frames, count=len(images), images=images), groundtruth=seq.groundtruth[:count]
    )


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such image folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{folder}: no images")
    return images


def _sequence(name: str, images: list[Path], gt: np.ndarray, gt_path: Path) -> Sequence:
    n = min(len(images), len(gt))
    if n == 0 or not np.isfinite(gt[0]).all() or gt[0, 2] <= 0 or gt[0, 3] <= 0:
        raise ValueError(f"{gt_path}: the first frame needs a valid box to initialise on")
    frames = FrameSource(images[0].parent, n, 30.0, images[:n])
    return Sequence(name, frames, gt[:n], tuple(float(v) for v in gt[0]))


def _mask_absent(gt: np.ndarray, absent: np.ndarray) -> np.ndarray:
    gt = gt.copy()
    gt[absent[: len(gt)].astype(bool)] = np.nan
    return gt


def _flags(path: Path) -> np.ndarray:
    text = read_text(path).replace(",", " ").split()
    try:
        return np.array([int(float(v)) for v in text])
    except (ValueError, OverflowError):  # not numbers, NaN, infinities
        raise ValueError(f"{path}: expected 0/1 flags") from None


def read_otb(root: str | Path) -> list[Sequence]:
    """A sequence folder (img/ + groundtruth_rect.txt) or a folder of them; ``ROOT@LIST``
    takes only the sequences a name list file gives (a validation split).
    """
    root, _, names = str(root).partition("@")
    root = Path(root)
    folders = (
        [root]
        if (root / "groundtruth_rect.txt").is_file()
        else sorted(p for p in root.iterdir() if (p / "groundtruth_rect.txt").is_file())
        if root.is_dir()
        else []
    )
    if not folders:
        raise ValueError(f"{root}: no OTB sequence (img/ + groundtruth_rect.txt) found")
    if names:
        wanted = read_name_list(names)
        missing = sorted(set(wanted) - {f.name for f in folders})
        if missing:
            raise ValueError(f"{root}: sequences of {names} not found: {missing}")
        folders = [f for f in folders if f.name in wanted]
    out = []
    for f in folders:
        gt_path = f / "groundtruth_rect.txt"
        out.append(_sequence(f.name, _images(f / "img"), read_boxes(gt_path), gt_path))
    return out


def read_got10k(root: str | Path) -> list[Sequence]:
    """A GOT-10k split folder (train/val): <seq>/*.jpg, groundtruth.txt, absence.label."""
    root = Path(root)
    seqs = sorted(p for p in root.iterdir() if (p / "groundtruth.txt").is_file()) if root.is_dir() else []
    if not seqs:
        raise ValueError(f"{root}: no GOT-10k sequence (<seq>/groundtruth.txt) found")
    out = []
    for s in seqs:
        gt = read_boxes(s / "groundtruth.txt")
        if (s / "absence.label").is_file():
            gt = _mask_absent(gt, _flags(s / "absence.label"))
        out.append(_sequence(s.name, _images(s), gt, s / "groundtruth.txt"))
    return out


def read_lasot(root: str | Path) -> list[Sequence]:
    """<class>/<class>-<n>/img + groundtruth.txt (+ full_occlusion.txt, out_of_view.txt)."""
    root = Path(root)
    seqs = sorted(root.glob("*/*/groundtruth.txt")) if root.is_dir() else []
    if not seqs:
        raise ValueError(f"{root}: no LaSOT sequence (<class>/<seq>/groundtruth.txt) found")
    out = []
    for gt_path in seqs:
        s = gt_path.parent
        gt = read_boxes(gt_path)
        for flag in ("full_occlusion.txt", "out_of_view.txt"):
            if (s / flag).is_file():
                gt = _mask_absent(gt, _flags(s / flag))
        out.append(_sequence(s.name, _images(s / "img"), gt, gt_path))
    return out


def read_uav123(root: str | Path, subset: str = "UAV123") -> list[Sequence]:
    """data_seq/<subset>/<seq>/*.jpg with annotations apart in anno/<subset>/<seq>.txt.

    Sequences split in parts in the annotation files (``<seq>_1``) are read whole here.
    """
    root = Path(root)
    anno_dir = root / "anno" / subset
    if not anno_dir.is_dir():
        raise ValueError(f"{anno_dir}: no UAV123 annotation folder")
    out = []
    for gt_path in sorted(anno_dir.glob("*.txt")):
        images = _images(root / "data_seq" / subset / gt_path.stem)
        out.append(_sequence(gt_path.stem, images, read_boxes(gt_path), gt_path))
    if not out:
        raise ValueError(f"{anno_dir}: no annotation files")
    return out


def polygons_to_boxes(values: np.ndarray) -> np.ndarray:
    """VOT 8-value polygons to their axis-aligned bounding boxes (4-value rows pass)."""
    if values.shape[1] == 4:
        return values
    xs, ys = values[:, 0::2], values[:, 1::2]
    x1, y1 = xs.min(axis=1), ys.min(axis=1)
    return np.stack([x1, y1, xs.max(axis=1) - x1, ys.max(axis=1) - y1], axis=1)


def _read_vot_groundtruth(path: Path) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.replace(" ", "").split(",")]
        except ValueError:
            raise ValueError(f"{path}:{lineno}: not numbers: {line.strip()!r}") from None
        if len(values) not in (4, 8):
            raise ValueError(f"{path}:{lineno}: expected 4 or 8 values, got {len(values)}")
        rows.append(values if len(values) == 8 else values + [np.nan] * 4)
    if not rows:
        raise ValueError(f"{path}: no boxes")
    arr = np.asarray(rows, dtype=np.float64)
    four = np.isnan(arr[:, 4])
    boxes = polygons_to_boxes(np.nan_to_num(arr))
    boxes[four] = arr[four, :4]
    return boxes


def read_vot(root: str | Path) -> list[Sequence]:
    """VOT: sequences/<seq>/color/*.jpg (or <seq>/*.jpg) + groundtruth.txt (4 or 8 values)."""
    root = Path(root)
    base = root / "sequences" if (root / "sequences").is_dir() else root
    seqs = sorted(p for p in base.iterdir() if (p / "groundtruth.txt").is_file()) if base.is_dir() else []
    if not seqs:
        raise ValueError(f"{root}: no VOT sequence (<seq>/groundtruth.txt) found")
    out = []
    for s in seqs:
        gt = _read_vot_groundtruth(s / "groundtruth.txt")
        images = _images(s / "color" if (s / "color").is_dir() else s)
        out.append(_sequence(s.name, images, gt, s / "groundtruth.txt"))
    return out


def read_video(path: str | Path, init_box: tuple[float, float, float, float]) -> list[Sequence]:
    """A plain video with an initial box and no further ground truth (speed only)."""
    source = open_frames(path)
    gt = np.full((max(source.count, 1), 4), np.nan)
    gt[0] = init_box
    return [Sequence(Path(path).stem, source, gt, tuple(float(v) for v in init_box))]


READERS = {"otb": read_otb, "got10k": read_got10k, "lasot": read_lasot, "uav123": read_uav123, "vot": read_vot}


def load_dataset(spec: str) -> list[Sequence]:
    """``kind:path`` (otb, got10k, lasot, uav123, vot), ``otb:path@names.txt`` or ``video:path@x,y,w,h``."""
    kind, _, rest = spec.partition(":")
    if kind == "video":
        path, _, box = rest.rpartition("@")
        try:
            values = tuple(float(v) for v in box.split(","))
        except ValueError:
            values = ()
        if len(values) != 4:
            raise ValueError(f"{spec!r}: expected video:PATH@x,y,w,h")
        return read_video(path, values)
    if kind not in READERS or not rest:
        raise ValueError(f"{spec!r}: expected KIND:PATH with KIND one of {sorted(READERS)} or video")
    return READERS[kind](rest)
