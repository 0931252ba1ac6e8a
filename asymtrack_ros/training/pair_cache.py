"""Crops cut once around the target of every annotated frame, so that training decodes a
small JPEG per frame instead of a full 720p/1080p one (as the reference pipelines pre-crop
their datasets).

Each visible frame of an OTB-style sequence gives one square crop of side
``ceil(sqrt(w*h) * CONTEXT_FACTOR)`` centred on the target (the tracker's geometry, zero
padding), stored at native resolution up to ``MAX_SIDE`` pixels. At ``MAX_SIDE`` / factor =
64 pixels per sqrt(w*h), a large target keeps the resolution the 256 px search crop (4x)
gives it; a small target's crop is not resampled at all. Search crops of the usual jitter
(4x sqrt(w*h), scale e^N(0, 0.5), centre +-1.75) mostly fit inside 8x; what falls outside
is zero, as the image border is.

Layout: ``CACHE/<seq>/crops/<frame:06d>.jpg`` and ``CACHE/<seq>/crops.json`` (boxes in
image pixels, null where the target is absent, and each crop's origin and scale). JSON and
JPEG only: nothing read back can execute code.
"""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..sampling.geometry import box_center, crop_origin, crop_patch, crop_side
from .datasets import (
    Otb,
    Sequence,
    _refuse_evaluation_set,
    _require_dir,
    _SequenceFolders,
    read_otb_sequence,
    split_folders,
    valid_boxes,
)

log = logging.getLogger(__name__)

CONTEXT_FACTOR = 8.0
MAX_SIDE = 512
INDEX = "crops.json"
FORMAT = 1


class CachedFrame:
    """A frame known only through its stored crop; ``crop`` takes image coordinates.
    ``full_frame`` is False: crops far from the target would be empty padding.
    """

    full_frame = False

    def __init__(self, path: Path, origin: tuple[float, float], scale: float) -> None:
        self.path, self.origin, self.scale = path, origin, scale

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{self.path}: missing or undecodable crop")
        # integer origin: the crop's rounding of its corner is unchanged by the shift
        patch = crop_patch(image, cx - self.origin[0], cy - self.origin[1], side, out_size, self.scale)
        return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)


def _cut_sequence(job: tuple[Path, Path, float, int, int]) -> str:
    """Crops and index of one sequence (a process-pool job); complete ones are skipped."""
    folder, out, factor, max_side, quality = job
    index_path = out / INDEX
    if index_path.is_file():
        return f"{folder.name}: present"
    seq = read_otb_sequence(folder)
    crops_dir = out / "crops"
    crops_dir.mkdir(parents=True, exist_ok=True)
    frames: list[list[float] | None] = []
    for i, box in enumerate(seq.boxes):
        if not seq.visible[i]:
            frames.append(None)
            continue
        path = seq.frame_path(i)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: missing or undecodable image")
        cx, cy = box_center(box)
        side = crop_side(box[2], box[3], factor)
        size = min(side, max_side)
        patch = crop_patch(image, cx, cy, side, size)
        cv2.imwrite(str(crops_dir / f"{i + 1:06d}.jpg"), patch, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frames.append([*crop_origin(cx, cy, side), side / size])
    boxes = [[float(v) for v in b] if ok else None for b, ok in zip(seq.boxes, seq.visible)]
    index = {"format": FORMAT, "source": str(folder), "factor": factor, "boxes": boxes, "crops": frames}
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index))
    tmp.replace(index_path)  # the index last: an interrupted sequence is redone
    return f"{folder.name}: {sum(f is not None for f in frames)} crops"


def build_cache(
    root: str | Path,
    out: str | Path,
    factor: float = CONTEXT_FACTOR,
    max_side: int = MAX_SIDE,
    quality: int = 95,
    workers: int = 1,
) -> list[str]:
    """Crops of every sequence of the OTB-style folder ``root`` into ``out``; re-runnable."""
    source = Otb(root)
    out = Path(out)
    _refuse_evaluation_set(out)
    jobs = [(f, out / f.name, factor, max_side, quality) for f in source.folders]
    if workers <= 1:
        return [_cut_sequence(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_cut_sequence, jobs))


class PairCache(_SequenceFolders):
    """Training source over a cache written by ``build_cache``: the same sequences, boxes
    and visibility as the OTB-style folder it was cut from (so the same seed draws the same
    pairs), frames served from the crops. ``exclude`` holds a validation split out.
    """

    name = "crops"

    def __init__(self, root: str | Path, exclude: str | Path | list[str] = ()) -> None:
        super().__init__(split_folders(_require_dir(Path(root), "pair cache"), INDEX, exclude))

    def _load(self, folder: Path) -> Sequence:
        path = folder / INDEX
        try:
            index = json.loads(path.read_text())
            boxes = np.array([b if b is not None else [math.nan] * 4 for b in index["boxes"]], np.float64)
            crops = index["crops"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: not a pair-cache index ({err})") from None
        if index.get("format") != FORMAT or len(crops) != len(boxes) or boxes.shape[1:] != (4,):
            raise ValueError(f"{path}: not a pair-cache index of format {FORMAT} with one crop entry per box")
        _refuse_evaluation_set(Path(index["source"]))
        visible = valid_boxes(boxes) & np.array([c is not None for c in crops])
        return CachedSequence(folder.name, boxes, visible, lambda i: folder / "crops" / f"{i + 1:06d}.jpg", crops)


@dataclass
class CachedSequence(Sequence):
    crops: list = field(default_factory=list)  # per frame: [x0, y0, scale] or None

    def frame(self, index: int) -> CachedFrame:
        x0, y0, scale = self.crops[index]
        return CachedFrame(self.frame_path(index), (x0, y0), scale)


def bench(
    root: str | Path, cache: str | Path, exclude: str | Path | list[str] = (), pairs: int = 100, rounds: int = 3
) -> dict[str, float]:
    """Training pairs per second (wall clock) and CPU time per pair, from the frames and
    from their cache, in one process, rounds interleaved (so that a busy machine slows both
    alike), the same sample ids for both: the same pairs, cut from different storage.
    Negatives as training draws them.
    """
    import time

    from ..models.asymtrack_variants import get_variant
    from ..sampling.pairs import Augment, PairDataset

    variant = get_variant("tiny")
    times, cpu = {"frames": 0.0, "cache": 0.0}, {"frames": 0.0, "cache": 0.0}
    datasets = {
        "frames": PairDataset([Otb(root, exclude)], [1.0], variant, Augment(), neg_prob=0.25, seed=0),
        "cache": PairDataset([PairCache(cache, exclude)], [1.0], variant, Augment(), neg_prob=0.25, seed=0),
    }
    diffs = []
    for r in range(rounds):
        ids = range(r * pairs, (r + 1) * pairs)
        items = {}
        for name, data in datasets.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            items[name] = [data[i] for i in ids]
            times[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
        diffs += [
            float(np.abs(a["search"].astype(np.int16) - b["search"]).mean())
            for a, b in zip(items["frames"], items["cache"])
        ]
    n = rounds * pairs
    return {
        "pairs": n,
        "frames_pairs_per_s": n / times["frames"],
        "cache_pairs_per_s": n / times["cache"],
        "speedup": times["frames"] / times["cache"],
        # CPU time of this process: what a busy machine's wall clock blurs
        "frames_cpu_ms_per_pair": 1000 * cpu["frames"] / n,
        "cache_cpu_ms_per_pair": 1000 * cpu["cache"] / n,
        "cpu_speedup": cpu["frames"] / cpu["cache"],
        "mean_abs_search_diff": float(np.mean(diffs)),
    }
