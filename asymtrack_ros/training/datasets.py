"""Annotated training data in the public datasets' own layouts.

Every source is a list of sequences; a sequence gives per-frame boxes (x, y, w, h, image
pixels), a visibility flag and frames that can be cropped. Annotations are read when a
sequence is first sampled (LaSOT and TrackingNet hold millions of lines) and kept. Errors
name the folder, file and line at fault.

Layouts:
- GOT-10k: ``ROOT/<seq>/00000001.jpg``, ``groundtruth.txt``, optional ``absence.label`` and
  ``cover.label`` (ROOT is the split folder, e.g. ``train``).
- LaSOT: ``ROOT/<class>/<class>-<n>/img/00000001.jpg``, ``groundtruth.txt``,
  ``full_occlusion.txt``, ``out_of_view.txt``.
- TrackingNet: ``ROOT/TRAIN_<k>/frames/<seq>/<i>.jpg`` (from 0) and ``anno/<seq>.txt``.
- COCO: an instances JSON and its image folder; every object is a one-frame sequence.
- OTB-style folders: ``ROOT/<seq>/img/*.jpg`` and ``groundtruth_rect.txt``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from ..files.sequences import IMAGE_SUFFIXES, read_boxes, read_name_list
from ..sampling.geometry import crop_patch
from ..sampling.pairs import Augment, CropSizes, PairDataset

log = logging.getLogger(__name__)

# The package's evaluation sequences (beside the repository) must never become training data.
EVALUATION_SET = Path(__file__).resolve().parents[3] / "shared" / "sequences"


class Frame(Protocol):
    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        """RGB uint8 ``out_size`` square crop (tracker geometry, zero padding)."""


class ImageFrame:
    """A frame on disk, decoded on first use; JPEGs are decoded at 1/2, 1/4 or 1/8 size
    when the crop shrinks that much anyway (libjpeg's DCT scaling is several times faster).
    """

    _REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}

    def __init__(self, path: Path) -> None:
        self.path = path
        self._decoded: dict[int, np.ndarray] = {}

    def _image(self, reduction: int) -> np.ndarray:
        if reduction not in self._decoded:
            flag = self._REDUCED.get(reduction, cv2.IMREAD_COLOR)
            image = cv2.imread(str(self.path), flag)
            if image is None:
                raise ValueError(f"{self.path}: missing or undecodable image")
            self._decoded[reduction] = image
        return self._decoded[reduction]

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        reduction = 1
        if self.path.suffix.lower() in (".jpg", ".jpeg"):
            while reduction < 8 and side / (reduction * 2) >= out_size:
                reduction *= 2
        patch = crop_patch(self._image(reduction), cx, cy, side, out_size, reduction)
        return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)


@dataclass
class Sequence:
    name: str
    boxes: np.ndarray  # [N, 4] x, y, w, h
    visible: np.ndarray  # [N] bool
    frame_path: Callable[[int], Path]

    def frame(self, index: int) -> Frame:
        return ImageFrame(self.frame_path(index))


class Source:
    """A training source: ``len`` sequences, ``sequence(i)`` loads one (cached)."""

    name = "source"
    is_video = True

    def __len__(self) -> int:
        raise NotImplementedError

    def sequence(self, index: int) -> Sequence:
        raise NotImplementedError

    def sample_pair(self, rng: np.random.Generator, max_gap: int) -> tuple | None:
        """(template frame, its box, search frame, its box) from one random sequence, or
        None when that sequence has no usable pair.
        """
        seq = self.sequence(int(rng.integers(len(self))))
        ids = sample_frame_ids(rng, seq.visible, max_gap, self.is_video)
        if ids is None:
            return None
        a, b = ids
        first = seq.frame(a)
        return first, seq.boxes[a], first if a == b else seq.frame(b), seq.boxes[b]

    def sample_frame(self, rng: np.random.Generator) -> tuple | None:
        """A random visible frame and its box (negatives for the score head)."""
        seq = self.sequence(int(rng.integers(len(self))))
        ids = np.flatnonzero(seq.visible)
        if len(ids) == 0:
            return None
        i = int(rng.choice(ids))
        return seq.frame(i), seq.boxes[i]


def sample_frame_ids(
    rng: np.random.Generator, visible: np.ndarray, max_gap: int, is_video: bool, tries: int = 20
) -> tuple[int, int] | None:
    """The reference's causal sampling: a visible template frame, then a visible search
    frame after it within ``max_gap`` (the gap grows by 5 per failed try). Still images
    pair a frame with itself.
    """
    ids = np.flatnonzero(visible)
    if len(ids) == 0:
        return None
    if not is_video:
        i = int(rng.choice(ids))
        return i, i
    if len(ids) < 2:
        return None
    extra = 0
    for _ in range(tries):
        base = int(rng.choice(ids[:-1]))
        later = ids[(ids > base) & (ids <= base + max_gap + extra)]
        if len(later):
            return base, int(rng.choice(later))
        extra += 5
    return None


def _require_dir(path: Path, what: str) -> Path:
    """Every data folder passes here: missing ones and the evaluation set are refused."""
    _refuse_evaluation_set(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: {what} folder not found")
    return path


def _refuse_evaluation_set(root: Path) -> None:
    """Both sides resolved: a data folder or ``shared`` itself may be reached through a link."""
    root, held_out = root.resolve(), EVALUATION_SET.resolve()
    if root == held_out or held_out in root.parents or root in held_out.parents:
        raise ValueError(f"{root}: holds the package's evaluation sequences; never train or validate on them")


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def read_flags(path: Path, count: int) -> np.ndarray:
    """0/1 (or small integer) labels, one per line or comma separated on one line; the
    count must match the boxes. Errors name file and line.
    """
    values: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        for field in re.split(r"[,\s]+", line.strip()):
            if not field:
                continue
            try:
                values.append(int(float(field)))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not an integer label: {field!r}") from None
    if len(values) != count:
        raise ValueError(f"{path}: {len(values)} labels for {count} boxes in the groundtruth")
    return np.asarray(values)


class _SequenceFolders(Source):
    """Sources whose sequences are folders with their annotation inside."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._cache: dict[int, Sequence] = {}

    def __len__(self) -> int:
        return len(self.folders)

    def sequence(self, index: int) -> Sequence:
        if index not in self._cache:
            self._cache[index] = self._load(self.folders[index])
        return self._cache[index]

    def _load(self, folder: Path) -> Sequence:
        raise NotImplementedError


def _numbered_frame(folder: Path, start: int, width: int, suffix: str = ".jpg") -> Callable[[int], Path]:
    return lambda i: folder / f"{i + start:0{width}d}{suffix}"


def _check_frames(folder: Path, first: Path, count: int) -> None:
    if not first.is_file():
        raise FileNotFoundError(f"{folder}: no frame {first.name} for its {count} annotated boxes")


class Got10k(_SequenceFolders):
    name = "got10k"

    def __init__(self, root: str | Path) -> None:
        root = _require_dir(Path(root), "GOT-10k split")
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        if not folders:
            raise FileNotFoundError(f"{root}: no GOT-10k sequence folders inside")
        super().__init__(folders)

    def _load(self, folder: Path) -> Sequence:
        boxes = read_boxes(folder / "groundtruth.txt") if (folder / "groundtruth.txt").is_file() else None
        if boxes is None:
            raise FileNotFoundError(f"{folder}: no groundtruth.txt")
        visible = valid_boxes(boxes)
        if (folder / "absence.label").is_file():
            visible &= read_flags(folder / "absence.label", len(boxes)) == 0
        if (folder / "cover.label").is_file():
            visible &= read_flags(folder / "cover.label", len(boxes)) > 0
        frame_path = _numbered_frame(folder, 1, 8)
        _check_frames(folder, frame_path(0), len(boxes))
        return Sequence(folder.name, boxes, visible, frame_path)


class Lasot(_SequenceFolders):
    name = "lasot"

    def __init__(self, root: str | Path) -> None:
        root = _require_dir(Path(root), "LaSOT")
        folders = sorted(s for c in root.iterdir() if c.is_dir() for s in c.iterdir() if (s / "img").is_dir())
        if not folders:
            raise FileNotFoundError(f"{root}: no LaSOT sequences (<class>/<class>-<n>/img) inside")
        super().__init__(folders)

    def _load(self, folder: Path) -> Sequence:
        gt = folder / "groundtruth.txt"
        if not gt.is_file():
            raise FileNotFoundError(f"{folder}: no groundtruth.txt")
        boxes = read_boxes(gt)
        visible = valid_boxes(boxes)
        for name in ("full_occlusion.txt", "out_of_view.txt"):
            if (folder / name).is_file():
                visible &= read_flags(folder / name, len(boxes)) == 0
        frame_path = _numbered_frame(folder / "img", 1, 8)
        _check_frames(folder, frame_path(0), len(boxes))
        return Sequence(folder.name, boxes, visible, frame_path)


class TrackingNet(Source):
    name = "trackingnet"

    def __init__(self, root: str | Path, chunks: list[int] | None = None) -> None:
        root = _require_dir(Path(root), "TrackingNet")
        names = [f"TRAIN_{k}" for k in chunks] if chunks is not None else None
        dirs = [root / n for n in names] if names else sorted(root.glob("TRAIN_*"))
        self.annos: list[Path] = []
        for chunk in dirs:
            _require_dir(chunk / "anno", "TrackingNet chunk annotation")
            _require_dir(chunk / "frames", "TrackingNet chunk frames")
            self.annos += sorted((chunk / "anno").glob("*.txt"))
        if not self.annos:
            raise FileNotFoundError(f"{root}: no TrackingNet annotations (TRAIN_<k>/anno/*.txt) inside")
        self._cache: dict[int, Sequence] = {}

    def __len__(self) -> int:
        return len(self.annos)

    def sequence(self, index: int) -> Sequence:
        if index not in self._cache:
            anno = self.annos[index]
            boxes = read_boxes(anno)
            folder = anno.parent.parent / "frames" / anno.stem
            frame_path = _numbered_frame(folder, 0, 1)
            _check_frames(folder, frame_path(0), len(boxes))
            self._cache[index] = Sequence(anno.stem, boxes, valid_boxes(boxes), frame_path)
        return self._cache[index]


class Otb(_SequenceFolders):
    """OTB-style folders; ``exclude`` (names, or a file of them) holds a validation split out."""

    name = "otb"

    def __init__(self, root: str | Path, exclude: str | Path | list[str] = ()) -> None:
        root = _require_dir(Path(root), "OTB-style sequences")
        super().__init__(split_folders(root, "groundtruth_rect.txt", exclude))

    def _load(self, folder: Path) -> Sequence:
        return read_otb_sequence(folder)


def split_folders(root: Path, marker: str, exclude: str | Path | list[str] = ()) -> list[Path]:
    """The sequence folders of ``root`` (those holding ``marker``) less the ``exclude``
    names (a list or a file of them), each of which must exist.
    """
    folders = sorted(p for p in root.iterdir() if (p / marker).is_file())
    held_out = set(read_name_list(list(exclude) if isinstance(exclude, tuple) else exclude))
    unknown = held_out - {p.name for p in folders}
    if unknown:
        raise ValueError(f"{root}: excluded sequences not found: {sorted(unknown)}")
    folders = [p for p in folders if p.name not in held_out]
    if not folders:
        raise FileNotFoundError(f"{root}: no sequence folders with {marker} inside")
    return folders


def read_otb_sequence(folder: Path) -> Sequence:
    boxes = read_boxes(folder / "groundtruth_rect.txt")
    images_dir = folder / "img" if (folder / "img").is_dir() else folder
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(images) < len(boxes):
        raise ValueError(f"{images_dir}: {len(images)} images for {len(boxes)} boxes in groundtruth_rect.txt")
    return Sequence(folder.name, boxes, valid_boxes(boxes), images.__getitem__)


class Coco(Source):
    """Still images: each non-crowd object with a box of at least ``min_size`` pixels
    per side is a sequence of one frame (template and search are crops of one image).
    """

    name = "coco"
    is_video = False

    def __init__(self, root: str | Path, annotations: str | Path | None = None, min_size: float = 4.0) -> None:
        root = Path(root)
        if annotations is None:
            annotations = root / "annotations" / "instances_train2017.json"
            images = _require_dir(root / "train2017", "COCO image")
        else:
            images = _require_dir(root, "COCO image")
        annotations = Path(annotations)
        if not annotations.is_file():
            raise FileNotFoundError(f"{annotations}: COCO annotation file not found")
        try:
            data = json.loads(annotations.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{annotations}:{err.lineno}: not valid JSON: {err.msg}") from None
        try:
            files = {img["id"]: img["file_name"] for img in data["images"]}
            anns = data["annotations"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"{annotations}: not a COCO instances file (missing {err})") from None
        self.images = images
        self.files: list[str] = []
        boxes = []
        for i, ann in enumerate(anns):
            try:
                box = [float(v) for v in ann["bbox"]]
                crowd = ann.get("iscrowd", 0)
                file = files[ann["image_id"]]
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{annotations}: annotation #{i} (id {ann.get('id', '?')}) malformed: {err}") from None
            if len(box) != 4:
                raise ValueError(f"{annotations}: annotation #{i} (id {ann.get('id', '?')}) bbox has {len(box)} values")
            if crowd or min(box[2], box[3]) < min_size:
                continue
            self.files.append(file)
            boxes.append(box)
        if not boxes:
            raise ValueError(f"{annotations}: no usable object annotations")
        self.boxes = np.asarray(boxes, np.float64)

    def __len__(self) -> int:
        return len(self.files)

    def sequence(self, index: int) -> Sequence:
        path = self.images / self.files[index]
        return Sequence(f"coco{index}", self.boxes[index : index + 1], np.ones(1, bool), lambda _i: path)


READERS: dict[str, Callable[..., Source]] = {
    "got10k": Got10k,
    "lasot": Lasot,
    "trackingnet": TrackingNet,
    "coco": Coco,
    "otb": Otb,
}


def build_source(spec: dict) -> Source:
    """``{type: got10k|lasot|trackingnet|coco|otb|crops|synthetic|chase, root: ..., weight: ..., <options>}``
    (``crops``: a pair cache, ``training/pair_cache.py``).
    """
    kind = spec.get("type")
    options = {k: v for k, v in spec.items() if k not in ("type", "weight")}
    if kind in READERS or kind == "crops":
        if "root" not in options:
            raise ValueError(f"data source {kind!r} needs a root folder")
    if kind == "crops":
        from .pair_cache import PairCache

        reader = PairCache
    elif kind == "synthetic":
        from ..sampling.synthetic import SyntheticSource

        reader = SyntheticSource
    elif kind == "chase":
        from .chase import ChaseSource

        reader = ChaseSource
    elif kind in READERS:
        reader = READERS[kind]
    else:
        known = sorted(READERS) + ["crops", "synthetic", "chase"]
        raise ValueError(f"unknown data source type {kind!r}; expected one of {known}")
    try:
        return reader(**options)
    except TypeError as err:  # an option the reader does not take
        raise ValueError(f"data source {kind!r}: {err}") from None


def config_pairs(cfg: dict, sizes: CropSizes, length: int, seed: int, negatives: bool = False) -> PairDataset:
    """The pairs a training config draws (its data sources, weights, augmentation and gap);
    ``negatives``: with its shares of negative and hidden-target crops.
    """
    data = cfg["data"]
    return PairDataset(
        [build_source(s) for s in data["sources"]],
        [float(s.get("weight", 1.0)) for s in data["sources"]],
        sizes,
        Augment(**cfg["augment"]),
        max_gap=data["max_gap"],
        neg_prob=data["neg_prob"] if negatives else 0.0,
        seed=seed,
        length=length,
        hidden_prob=data["hidden_prob"] if negatives else 0.0,
    )
