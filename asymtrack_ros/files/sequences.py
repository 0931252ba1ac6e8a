"""Frame sources (video files, OTB-style image folders) and box files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SEPARATORS = re.compile(r"[,\s;]+")


def read_text(path: Path) -> str:
    """A text file's content; ValueError naming the file when it is not UTF-8 text."""
    try:
        return path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None


def read_boxes(path: str | Path) -> np.ndarray:
    """x, y, w, h per line; comma, space, tab or semicolon separated. Rows of NaN mark
    frames without the target. Errors name the file and line.
    """
    path = Path(path)
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        fields = [f for f in _SEPARATORS.split(text) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise ValueError(f"{path}:{lineno}: not numbers: {text!r}") from None
        if len(values) != 4:
            raise ValueError(f"{path}:{lineno}: expected 4 values x,y,w,h, got {len(values)}")
        rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no boxes")
    return np.asarray(rows, dtype=np.float64)


def read_name_list(names: str | Path | list[str]) -> list[str]:
    """Sequence names given as a list, or as a file of one name a line (``#`` comments):
    how a split (e.g. a validation set held out of training) is named in one place.
    """
    if isinstance(names, list):
        return [str(n) for n in names]
    path = Path(names)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: sequence list not found")
    return [name for line in read_text(path).splitlines() if (name := line.split("#")[0].strip())]


def write_boxes(path: str | Path, boxes: np.ndarray) -> None:
    """One ``x,y,w,h`` line per frame: the format other toolkits read."""
    Path(path).write_text("".join(f"{x:.2f},{y:.2f},{w:.2f},{h:.2f}\n" for x, y, w, h in boxes))


@dataclass
class FrameSource:
    """Frames of a video file or an image folder (``img/`` inside an OTB sequence)."""

    path: Path
    count: int
    fps: float
    images: list[Path] | None  # None for a video

    def __iter__(self) -> Iterator[np.ndarray]:
        """BGR uint8 frames, as OpenCV decodes them."""
        if self.images is not None:
            for p in self.images:
                frame = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if frame is None:
                    raise ValueError(f"{p}: cannot decode image")
                yield frame
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()


def open_frames(path: str | Path) -> FrameSource:
    path = Path(path)
    if path.is_dir():
        folder = path / "img" if (path / "img").is_dir() else path
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
        return FrameSource(path, len(images), 30.0, images)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video or image folder")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: cannot open as a video")
    count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS) or 30.0
    cap.release()
    return FrameSource(path, count, fps, None)


def groundtruth_of(path: str | Path) -> Path | None:
    gt = Path(path) / "groundtruth_rect.txt"
    return gt if gt.is_file() else None
