"""Assets for the synthetic sequences from Debian packages: photographs (wallpaper
packages) as backgrounds and cut-outs with alpha (Tux Paint stamps, Open Clip Art) as
objects. ``fetch`` downloads the packages with ``apt-get download``, unpacks them with
``dpkg -x`` and writes a small cache: backgrounds resized to at most 1280 px, objects
cropped to their opaque part and resized to at most 256 px, and ``index.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from ..files.resources import cache_root

log = logging.getLogger(__name__)

BACKGROUND_PACKAGES = (
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "gnome-backgrounds",
    "ukui-wallpapers",
)
# Package -> folder of its images and the categories (path prefixes) that are not objects.
OBJECT_PACKAGES = {
    "tuxpaint-stamps-default": ("usr/share/tuxpaint/stamps", ("symbols/alphabets", "symbols/math")),
    "openclipart-png": (
        "usr/share/openclipart/png",
        ("computer", "shapes", "special", "unsorted", "signs_and_symbols", "buttons", "logos"),
    ),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
BACKGROUND_MAX_SIDE = 1280
OBJECT_MAX_SIDE = 256
MIN_OBJECT_SIDE = 24
MIN_OPAQUE_FRACTION = 0.2  # of the opaque part's bounding box; thinner shapes make poor targets
MIN_BACKGROUND_DETAIL = 3.0  # mean |Laplacian| at 256 px; flat colour fields make poor clutter


def default_cache() -> Path:
    return cache_root() / "synth"


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RuntimeError(f"{cmd[0]} not found: fetching the assets needs a Debian-based system") from None


def available(package: str) -> str | None:
    """The candidate version apt would download, or None."""
    out = _run(["apt-cache", "policy", package]).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            return None if version == "(none)" else version
    return None


def download(packages: list[str], debs: Path) -> dict[str, Path]:
    """``apt-get download`` each available package into ``debs``; skips unknown ones."""
    debs.mkdir(parents=True, exist_ok=True)
    got: dict[str, Path] = {}
    for package in packages:
        existing = sorted(debs.glob(f"{package}_*.deb"))
        if existing:
            got[package] = existing[-1]
            continue
        if available(package) is None:
            log.warning("%s: not available from apt here (run 'apt-get update' first?); skipped", package)
            continue
        result = _run(["apt-get", "download", package], cwd=debs)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not found:
            raise RuntimeError(f"apt-get download {package} failed: {result.stderr.strip()[-500:]}")
        got[package] = found[-1]
        log.info("downloaded %s", found[-1].name)
    return got


def unpack(deb: Path, into: Path) -> Path:
    """``dpkg -x`` into a temporary folder renamed when complete (an interrupted run redoes it)."""
    if not into.is_dir():
        partial = into.with_name(into.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        result = _run(["dpkg", "-x", str(deb), str(partial)])
        if result.returncode != 0:
            raise RuntimeError(f"dpkg -x {deb} failed: {result.stderr.strip()[-500:]}")
        partial.rename(into)
    return into


def _resize_max(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _dhash(image: np.ndarray) -> int:
    gray = cv2.cvtColor(cv2.resize(image, (9, 8), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def detail(image: np.ndarray) -> float:
    small = _resize_max(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 256)
    return float(np.abs(cv2.Laplacian(small, cv2.CV_32F)).mean())


def _background_candidates(root: Path) -> list[Path]:
    """Image files; of wallpapers shipped in several resolutions (``<name>/contents/images*``)
    only the largest, and no preview screenshots.
    """
    best: dict[Path, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or path.stem == "screenshot":
            continue
        group = path.parent if path.parent.name.startswith("images") else path
        if group not in best or path.stat().st_size > best[group].stat().st_size:
            best[group] = path
    return sorted(best.values())


def index_backgrounds(roots: list[Path], out: Path) -> list[str]:
    (out / "backgrounds").mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    written = []
    for root in roots:
        for path in _background_candidates(root):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or min(image.shape[:2]) < 200:
                continue
            image = _resize_max(image, BACKGROUND_MAX_SIDE)
            h = _dhash(image)
            if h in seen or detail(image) < MIN_BACKGROUND_DETAIL:
                continue
            seen.add(h)
            name = f"backgrounds/{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem[:40]}.jpg"
            cv2.imwrite(str(out / name), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            written.append(name)
    return written


def prepare_object(rgba: np.ndarray) -> np.ndarray | None:
    """Crop to the opaque part and shrink; None if it is not a usable cut-out."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return None
    alpha = rgba[..., 3]
    points = cv2.findNonZero((alpha > 127).astype(np.uint8))
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    if min(w, h) < MIN_OBJECT_SIDE:
        return None
    crop = rgba[y : y + h, x : x + w]
    if (crop[..., 3] > 127).mean() < MIN_OPAQUE_FRACTION:
        return None
    return _resize_max(crop, OBJECT_MAX_SIDE)


def index_objects(roots: dict[str, tuple[Path, tuple[str, ...]]], out: Path) -> list[dict]:
    """``roots``: label -> (folder, skipped category prefixes). Class = label + the first
    two folder levels (e.g. ``tuxpaint-stamps-default/animals/mammals``).
    """
    entries = []
    for label, (root, skip) in roots.items():
        for path in sorted(root.rglob("*.png")):
            rel = path.relative_to(root)
            category = "/".join(rel.parts[:-1][:2])
            if any(category == s or category.startswith(s + "/") for s in skip):
                continue
            obj = prepare_object(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
            if obj is None:
                continue
            name = f"objects/{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem[:40]}.png"
            (out / "objects").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / name), obj)
            entries.append({"path": name, "class": f"{label}/{category}"})
    return entries


def fetch(cache: str | Path | None = None, keep_packages: bool = False) -> Path:
    """Download, unpack and index the assets into ``cache``; returns the cache folder."""
    out = Path(cache) if cache else default_cache()
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "packages"
    debs = download([*BACKGROUND_PACKAGES, *OBJECT_PACKAGES], raw / "debs")
    if not any(p in debs for p in BACKGROUND_PACKAGES) or not any(p in debs for p in OBJECT_PACKAGES):
        raise RuntimeError("no background or no object package could be downloaded; check 'apt-cache policy'")
    trees = {p: unpack(deb, raw / "tree" / p) for p, deb in debs.items()}
    for sub in ("backgrounds", "objects"):
        shutil.rmtree(out / sub, ignore_errors=True)
    backgrounds = index_backgrounds([trees[p] for p in BACKGROUND_PACKAGES if p in trees], out)
    objects = index_objects(
        {p: (trees[p] / folder, skip) for p, (folder, skip) in OBJECT_PACKAGES.items() if p in trees}, out
    )
    index = {
        "packages": {p: deb.name for p, deb in debs.items()},
        "backgrounds": backgrounds,
        "objects": objects,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    if not keep_packages:
        shutil.rmtree(raw, ignore_errors=True)
    log.info("synthetic assets in %s: %d backgrounds, %d objects", out, len(backgrounds), len(objects))
    return out
