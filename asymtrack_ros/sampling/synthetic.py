"""Synthetic tracking sequences, composed on the fly and only inside the crops asked for.

A sequence is a handful of closed-form trajectories (no per-frame state), so a frame at any
time can be rendered without the frames before it, and a crop is drawn by warping the
background and each object straight into crop pixels: no full frame is ever built.

Scene: a background photograph seen through a panning, zooming camera; the target, a
cut-out with alpha moving smoothly (sinusoids plus drift folded into the frame, so it
bounces and sometimes leaves the view), changing scale, aspect and rotation; same-class
distractors; occluders that cross the target's path in front of it (cut-outs or strips of
another photograph); background clutter. Targets are also cut from the photographs
themselves (``photo_objects``): real textures with soft, arbitrary outlines, whose
look-alikes are other cut-outs of the same photograph; clip art alone teaches a network to
find a drawing on a photo, not to match what it was shown. Per frame: motion blur along each object's
velocity, illumination drift with a light gradient, optional sensor noise and defocus.

Assets are the cache written by ``asymtrack synth fetch`` (photographs and cut-outs from
Debian packages); without one, procedural textures and shapes stand in (for tests and
machines without the packages).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .geometry import crop_matrix

log = logging.getLogger(__name__)

FRAME_SIZES = ((640, 480), (640, 360), (854, 480), (960, 540), (1280, 720), (720, 720), (480, 640))
TEMPLATE_VISIBLE = 0.85  # the template frame shows the target nearly unoccluded
SEARCH_VISIBLE = 0.3  # search frames below this count as target absent
HIDDEN_VISIBLE = 0.1  # frames below this show the occluder where the target was: a negative
SEQUENCE_FRAMES = 2000  # trajectories are defined for every t; this bounds the sampled times
MIN_PHOTO_CONTRAST = 20.0  # pixel std below which a photograph patch is too flat for a target
MAX_TRIES = 8


def _pyramid(image: np.ndarray, levels: int = 4, min_side: int = 16) -> list[np.ndarray]:
    out = [image]
    while len(out) < levels and min(out[-1].shape[:2]) >= 2 * min_side:
        out.append(cv2.pyrDown(out[-1]))
    return out


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied alpha: bilinear warps and blurs then mix no colour from transparent pixels."""
    out = rgba.copy()
    out[..., :3] = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)
    return out


def _hull(alpha: np.ndarray) -> np.ndarray:
    points = cv2.findNonZero((alpha > 127).astype(np.uint8))
    if points is None:
        h, w = alpha.shape
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)
    # Pixel corners, not centres: the hull of the pixel squares.
    return np.concatenate([hull + d for d in ((0, 0), (1, 0), (0, 1), (1, 1))])


@dataclass
class ObjectAsset:
    levels: list[np.ndarray]  # premultiplied RGBA pyramids
    hull: np.ndarray  # [k, 2] level-0 pixel coordinates enclosing the opaque part
    cls: int

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.levels[0].shape[:2]
        return w, h


@dataclass
class AssetBank:
    """Backgrounds and objects; objects are drawn package by package (the first part of
    their class name) so that thousands of clip-art drawings do not drown the photographic
    cut-outs.
    """

    backgrounds: list[list[np.ndarray]]  # RGB pyramids
    objects: list[ObjectAsset]
    class_names: list[str]
    origin: str = "procedural"
    photo_fraction: float = 0.0  # share of objects drawn from the 'photo' group, if any
    by_class: dict[int, list[int]] = field(default_factory=dict)
    groups: list[list[int]] = field(default_factory=list)
    photo_group: int | None = None  # index in ``groups`` of the photograph cut-outs

    def __post_init__(self) -> None:
        if not self.backgrounds or not self.objects:
            raise ValueError(f"{self.origin}: no backgrounds or no objects")
        self._index()

    def _index(self) -> None:
        self.by_class.clear()
        by_group: dict[str, list[int]] = {}
        for i, obj in enumerate(self.objects):
            self.by_class.setdefault(obj.cls, []).append(i)
            by_group.setdefault(self.class_names[obj.cls].split("/")[0], []).append(i)
        self.groups = list(by_group.values())
        self.photo_group = list(by_group).index("photo") if "photo" in by_group else None

    def sample_object(self, rng: np.random.Generator) -> int:
        photo = self.photo_group
        if photo is None:
            index = int(rng.integers(len(self.groups)))
        elif rng.random() < self.photo_fraction or len(self.groups) == 1:
            index = photo
        else:  # any other group: draw among len - 1 and step over the photo group
            index = int(rng.integers(len(self.groups) - 1))
            index += index >= photo
        group = self.groups[index]
        return group[int(rng.integers(len(group)))]

    def add_photo_objects(self, rng: np.random.Generator, count: int, fraction: float) -> None:
        """Cut ``count`` targets from the backgrounds, class ``photo/<background>``; they are
        drawn with probability ``fraction``.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"photo_fraction must be in [0, 1], got {fraction}")
        for _ in range(count):
            bg = int(rng.integers(len(self.backgrounds)))
            rgba = photo_object(rng, self.backgrounds[bg][0])
            name = f"photo/{bg}"
            if name not in self.class_names:
                self.class_names.append(name)
            cls = self.class_names.index(name)
            self.objects.append(ObjectAsset(_pyramid(_premultiply(rgba)), _hull(rgba[..., 3]), cls))
        self.photo_fraction = fraction
        self._index()

    @classmethod
    def from_images(
        cls, backgrounds: list[np.ndarray], objects: list[tuple[np.ndarray, str]], origin: str
    ) -> AssetBank:
        """RGB backgrounds and (RGBA object, class name) pairs."""
        names: dict[str, int] = {}
        objs = [
            ObjectAsset(_pyramid(_premultiply(rgba)), _hull(rgba[..., 3]), names.setdefault(c, len(names)))
            for rgba, c in objects
        ]
        return cls([_pyramid(b) for b in backgrounds], objs, list(names), origin)

    @classmethod
    def load(cls, directory: str | Path, max_objects: int | None = None) -> AssetBank:
        """The cache of ``asymtrack synth fetch`` (``index.json`` beside the images)."""
        directory = Path(directory)
        index_path = directory / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: no synthetic asset index; run 'asymtrack synth fetch'")
        index = json.loads(index_path.read_text())
        backgrounds = []
        for rel in index["backgrounds"]:
            image = cv2.imread(str(directory / rel), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{directory / rel}: cannot decode background")
            backgrounds.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        objects = []
        entries = index["objects"][:max_objects] if max_objects else index["objects"]
        for entry in entries:
            image = cv2.imread(str(directory / entry["path"]), cv2.IMREAD_UNCHANGED)
            if image is None or image.ndim != 3 or image.shape[2] != 4:
                raise ValueError(f"{directory / entry['path']}: not an RGBA image")
            rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
            objects.append((rgba, entry["class"]))
        bank = cls.from_images(backgrounds, objects, str(directory))
        log.info(
            "synthetic assets: %d backgrounds, %d objects in %d classes",
            len(backgrounds),
            len(objects),
            len(bank.class_names),
        )
        return bank

    @classmethod
    def procedural(cls, seed: int = 0, backgrounds: int = 16, objects: int = 32) -> AssetBank:
        rng = np.random.default_rng(seed)
        bgs = [procedural_background(rng) for _ in range(backgrounds)]
        objs = []
        for i in range(objects):
            group = i % 8  # eight classes of look-alike objects: same shape kind, near hues
            objs.append((procedural_object(rng, kind=group % 4, hue=group * 22.5), f"procedural/{group}"))
        return cls.from_images(bgs, objs, "procedural")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.random((cells, max(1, cells * w // h))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def procedural_background(rng: np.random.Generator, size: tuple[int, int] = (512, 384)) -> np.ndarray:
    """Gradient, blotches, fine texture and random strokes: clutter without downloads."""
    w, h = size
    corners = rng.integers(0, 256, (2, 2, 3)).astype(np.float32)
    image = cv2.resize(corners, (w, h), interpolation=cv2.INTER_LINEAR)
    for cells, amp in ((4, 60), (16, 40), (64, 25)):
        image += (_smooth_noise(rng, h, w, cells)[..., None] - 0.5) * amp * rng.random(3).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(5, 25))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        p = rng.integers(0, (w, h), (2, 2))
        if rng.random() < 0.5:
            cv2.line(image, tuple(map(int, p[0])), tuple(map(int, p[1])), color, int(rng.integers(1, 8)))
        else:
            cv2.circle(image, tuple(map(int, p[0])), int(rng.integers(4, 40)), color, -1)
    return image


def procedural_object(rng: np.random.Generator, kind: int, hue: float) -> np.ndarray:
    """RGBA shape (ellipse, star, rounded box or blob) with a striped/spotted texture."""
    w, h = (int(v) for v in rng.integers(48, 128, 2))
    mask = np.zeros((h, w), np.uint8)
    c = (w // 2, h // 2)
    if kind == 0:
        cv2.ellipse(mask, c, (w // 2 - 2, h // 2 - 2), 0, 0, 360, 255, -1)
    elif kind == 1:
        n = int(rng.integers(5, 9))
        ang = np.arange(2 * n) * math.pi / n
        rad = np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.4, 0.7))
        pts = np.stack([c[0] + (w / 2 - 2) * rad * np.cos(ang), c[1] + (h / 2 - 2) * rad * np.sin(ang)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    elif kind == 2:
        r = int(min(w, h) * 0.2)
        cv2.rectangle(mask, (r, 2), (w - r, h - 2), 255, -1)
        cv2.rectangle(mask, (2, r), (w - 2, h - r), 255, -1)
        for x, y in ((r, r), (w - r, r), (r, h - r), (w - r, h - r)):
            cv2.circle(mask, (x, y), r - 2, 255, -1)
    else:
        blob = _smooth_noise(rng, h, w, 3)
        yy, xx = np.mgrid[0:h, 0:w]
        falloff = 1 - ((xx - c[0]) / (w / 2)) ** 2 - ((yy - c[1]) / (h / 2)) ** 2
        mask = ((blob * 0.6 + falloff) > 0.55).astype(np.uint8) * 255
    hsv = np.zeros((h, w, 3), np.uint8)
    hsv[..., 0] = int((hue + rng.normal(0, 5)) % 180)
    hsv[..., 1] = int(rng.integers(120, 256))
    hsv[..., 2] = int(rng.integers(120, 256))
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    if rng.random() < 0.5:
        period = rng.uniform(6, 20)
        rgb *= (0.75 + 0.25 * np.sign(np.sin((xx * rng.normal() + yy * rng.normal()) / period * 6.28)))[..., None]
    else:
        rgb *= (0.6 + 0.4 * _smooth_noise(rng, h, w, 8))[..., None]
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    rgb[edge] *= 0.4
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)
    return np.dstack([np.clip(rgb, 0, 255).astype(np.uint8), alpha])


def photo_object(rng: np.random.Generator, photo: np.ndarray) -> np.ndarray:
    """RGBA patch of a photograph: random size and aspect, an ellipse, rounded box, polygon
    or blob outline, feathered by 0 to 6 % of its size.
    """
    ph, pw = photo.shape[:2]
    for _ in range(MAX_TRIES):  # prefer textured regions: a flat patch has nothing to match
        side = math.exp(rng.uniform(math.log(40), math.log(min(ph, pw) * 0.6)))
        aspect = math.exp(rng.uniform(-0.9, 0.9))
        w = int(min(pw - 2, max(16, side * math.sqrt(aspect))))
        h = int(min(ph - 2, max(16, side / math.sqrt(aspect))))
        x, y = int(rng.integers(0, pw - w)), int(rng.integers(0, ph - h))
        if float(photo[y : y + h, x : x + w].std()) >= MIN_PHOTO_CONTRAST:
            break
    mask = np.zeros((h, w), np.uint8)
    kind = int(rng.integers(4))
    if kind == 0:
        cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1)
    elif kind == 1:
        r = int(min(w, h) * rng.uniform(0.0, 0.35))
        cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 255, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(mask, (cx, cy), r, 255, -1)
    elif kind == 2:
        n = int(rng.integers(5, 12))
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = rng.uniform(0.55, 1.0, n)
        pts = np.stack([(w - 1) / 2 * (1 + rad * np.cos(ang)), (h - 1) / 2 * (1 + rad * np.sin(ang))], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    else:
        yy, xx = np.mgrid[0:h, 0:w]
        falloff = 1 - ((xx - w / 2) / (w / 2)) ** 2 - ((yy - h / 2) / (h / 2)) ** 2
        mask = ((_smooth_noise(rng, h, w, 3) * 0.6 + falloff) > 0.55).astype(np.uint8) * 255
    feather = rng.uniform(0, 0.06) * min(w, h)
    if feather >= 0.5:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return np.dstack([photo[y : y + h, x : x + w], mask])


def _fold(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Reflect into [lo, hi] (a bounce off the frame edges), continuous in x."""
    span = hi - lo
    return lo + span - np.abs(np.mod(x - lo, 2 * span) - span)


@dataclass
class Motion:
    """Closed-form smooth path: drift plus sinusoids, folded into bounds."""

    p0: np.ndarray
    drift: np.ndarray
    amp: np.ndarray  # [k, 2]
    freq: np.ndarray  # [k] radians per frame
    phase: np.ndarray  # [k, 2]
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, speed: float) -> Motion:
        k = 3
        freq = np.exp(rng.uniform(math.log(2 * math.pi / 600), math.log(2 * math.pi / 25), k))
        amp = rng.uniform(0.2, 1.0, (k, 2)) * (speed / k / freq)[:, None]
        amp = np.minimum(amp, (hi - lo) * 0.6)
        drift = rng.normal(0, speed * 0.3, 2)
        return cls(rng.uniform(lo, hi), drift, amp, freq, rng.uniform(0, 2 * math.pi, (k, 2)), lo, hi)

    def at(self, t: float) -> np.ndarray:
        x = self.p0 + self.drift * t + (self.amp * np.sin(self.freq[:, None] * t + self.phase)).sum(0)
        return _fold(x, self.lo, self.hi)


@dataclass
class Wave:
    """Scalar smooth signal: base + amplitude * sin (+ drift), for scale, aspect, angle, light."""

    base: float
    amp: float
    freq: float
    phase: float
    drift: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator, base: float, amp: float, period: tuple[float, float]) -> Wave:
        freq = 2 * math.pi / rng.uniform(*period)
        return cls(base, amp * rng.random(), freq, rng.uniform(0, 2 * math.pi))

    def at(self, t: float) -> float:
        return self.base + self.amp * math.sin(self.freq * t + self.phase) + self.drift * t


@dataclass
class Actor:
    """One object in the scene; ``follow`` makes its path relative to another actor's (an
    occluder or distractor crossing the target at time ``cross_t``).
    """

    asset: int
    motion: Motion
    log_size: Wave
    log_aspect: Wave
    angle: Wave
    mirror: bool
    gain: np.ndarray  # per-channel colour gain (look-alikes differ slightly)
    front: bool
    follow: Actor | None = None
    cross_t: float = 0.0
    cross_v: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def centre(self, t: float) -> np.ndarray:
        if self.follow is None:
            return self.motion.at(t)
        return self.follow.centre(t) + self.motion.p0 + self.cross_v * (t - self.cross_t)

    def matrix(self, t: float, obj: ObjectAsset) -> np.ndarray:
        """2x3: object pixels -> frame pixels at time t."""
        w, h = obj.size
        size = math.exp(self.log_size.at(t))
        aspect = math.exp(self.log_aspect.at(t))
        kx, ky = size / math.sqrt(w * h) * math.sqrt(aspect), size / math.sqrt(w * h) / math.sqrt(aspect)
        if self.mirror:
            kx = -kx
        a = self.angle.at(t)
        ca, sa = math.cos(a), math.sin(a)
        lin = np.array([[ca, -sa], [sa, ca]]) @ np.diag([kx, ky])
        cx, cy = self.centre(t)
        return np.hstack([lin, (np.array([cx, cy]) - lin @ np.array([w / 2, h / 2]))[:, None]])


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of ``outer`` after ``inner``."""
    return outer[:, :2] @ inner + np.hstack([np.zeros((2, 2)), outer[:, 2:]])


def _level_matrix(m: np.ndarray, level: int) -> np.ndarray:
    """Map from level-k pixels of a pyramid given the map ``m`` from level-0 pixels."""
    if level == 0:
        return m
    f = 2.0**level
    return _compose(m, np.array([[f, 0, 0.5 * f - 0.5], [0, f, 0.5 * f - 0.5]]))


def _pick_level(m: np.ndarray, levels: int) -> int:
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    level = 0
    while level + 1 < levels and scale * 2.0 ** (level + 1) <= 1.0:
        level += 1
    return level


def _line_kernel(dx: float, dy: float, longest: float = 21.0) -> np.ndarray | None:
    """Motion-blur kernel along (dx, dy) pixels (capped: long kernels cost more than they teach)."""
    length = math.hypot(dx, dy)
    if length < 1.5:
        return None
    if length > longest:
        dx, dy, length = dx * longest / length, dy * longest / length, longest
    n = int(math.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    cv2.line(k, (int(round(c - dx / 2)), int(round(c - dy / 2))), (int(round(c + dx / 2)), int(round(c + dy / 2))), 1.0)
    return k / k.sum()


class SyntheticScene:
    """One synthetic sequence: frame size, camera over a background, actors, lighting."""

    def __init__(self, bank: AssetBank, rng: np.random.Generator) -> None:
        self.bank = bank
        self.W, self.H = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        self.bg = int(rng.integers(len(bank.backgrounds)))
        bh, bw = bank.backgrounds[self.bg][0].shape[:2]
        self.cover = max(self.W / bw, self.H / bh)
        self.zoom = Wave.random(rng, math.log(rng.uniform(1.05, 1.6)), 0.3, (150, 800))
        self.zoom.base = max(self.zoom.base, self.zoom.amp + 0.02)  # always covers the frame
        self.pan = Motion.random(rng, np.zeros(2), np.ones(2), rng.uniform(0.0005, 0.006))
        short = min(self.W, self.H)
        size = math.exp(rng.uniform(math.log(16), math.log(short * 0.3)))
        speed = math.exp(rng.uniform(math.log(0.5), math.log(18)))
        margin = 0.25 if rng.random() < 0.15 else -0.08  # some targets leave the view for a while
        lo, hi = (
            np.array([-margin * self.W, -margin * self.H]),
            np.array([(1 + margin) * self.W, (1 + margin) * self.H]),
        )
        target_asset = bank.sample_object(rng)
        self.target = self._actor(rng, target_asset, size, lo, hi, speed, front=False)
        self.actors: list[Actor] = []
        for _ in range(int(rng.integers(0, 5))):  # background clutter
            a = bank.sample_object(rng)
            self.actors.append(self._actor(rng, a, size * rng.uniform(0.5, 2), lo, hi, speed * 0.3, front=False))
        same = bank.by_class[bank.objects[target_asset].cls]
        for _ in range(int(rng.choice([0, 0, 1, 2, 3, 4]))):  # look-alike distractors
            a = int(rng.choice(same)) if rng.random() < 0.8 else target_asset
            d = self._actor(rng, a, size * rng.uniform(0.7, 1.4), lo, hi, speed, front=bool(rng.random() < 0.3))
            if rng.random() < 0.5:
                self._cross(rng, d, size)
            self.actors.append(d)
        self.actors.append(self.target)
        for _ in range(int(rng.choice([0, 1, 1, 2]))):  # occluders crossing the target's path
            a = bank.sample_object(rng)
            o = self._actor(rng, a, size * rng.uniform(0.6, 2.0), lo, hi, speed, front=True)
            self._cross(rng, o, size)
            self.actors.append(o)
        self.actors.sort(key=lambda act: act.front)  # stable: clutter, back distractors, target, front
        self.exposure = rng.uniform(0.0, 1.0)
        self.light = Wave.random(rng, rng.normal(0, 0.1), 0.35, (40, 400))
        self.light_grad = Motion.random(rng, -np.ones(2) * 0.4, np.ones(2) * 0.4, 0.004)
        self.cast = np.exp(rng.normal(0, 0.06, 3)).astype(np.float32)
        self.noise = rng.uniform(2, 7) if rng.random() < 0.3 else 0.0
        self.noise_seed = int(rng.integers(1 << 31))
        self.defocus = rng.random() < 0.1

    def _actor(
        self,
        rng: np.random.Generator,
        asset: int,
        size: float,
        lo: np.ndarray,
        hi: np.ndarray,
        speed: float,
        front: bool,
    ) -> Actor:
        spin = rng.normal(0, 0.01) if rng.random() < 0.2 else 0.0
        angle = Wave.random(rng, rng.normal(0, 0.15), 0.5 if rng.random() < 0.3 else 0.1, (60, 500))
        angle.drift = spin
        log_size = Wave.random(rng, math.log(size), 0.6, (80, 900))
        log_size.drift = rng.normal(0, 0.0008)
        return Actor(
            asset=asset,
            motion=Motion.random(rng, lo, hi, speed),
            log_size=log_size,
            log_aspect=Wave.random(rng, 0.0, 0.35, (40, 400)),
            angle=angle,
            mirror=bool(rng.random() < 0.5),
            gain=np.exp(rng.normal(0, 0.12, 3)).astype(np.float32),
            front=front,
        )

    def _cross(self, rng: np.random.Generator, actor: Actor, size: float) -> None:
        """Path relative to the target: passes over it at a random time."""
        actor.follow = self.target
        actor.cross_t = rng.uniform(0, SEQUENCE_FRAMES)
        speed = rng.uniform(0.5, 6.0) * max(1.0, size / 60)
        heading = rng.uniform(0, 2 * math.pi)
        actor.cross_v = np.array([math.cos(heading), math.sin(heading)]) * speed
        actor.motion.p0 = rng.normal(0, size * 0.3, 2)

    # -- geometry ----------------------------------------------------------------------

    def camera(self, t: float) -> np.ndarray:
        """2x3: background level-0 pixels -> frame pixels."""
        bh, bw = self.bank.backgrounds[self.bg][0].shape[:2]
        s = self.cover * math.exp(self.zoom.at(t))
        u = self.pan.at(t)
        ox = -(bw * s - self.W) * u[0]
        oy = -(bh * s - self.H) * u[1]
        return np.array([[s, 0, ox + 0.5 * s - 0.5], [0, s, oy + 0.5 * s - 0.5]])

    def corners(self, actor: Actor, t: float) -> np.ndarray:
        obj = self.bank.objects[actor.asset]
        m = actor.matrix(t, obj)
        return obj.hull @ m[:, :2].T + m[:, 2]

    def box(self, t: float) -> np.ndarray:
        """Target box x, y, w, h in frame pixels, clipped to the frame (as annotators do)."""
        pts = self.corners(self.target, t)
        x1, y1 = np.maximum(pts.min(0), 0)
        x2, y2 = np.minimum(pts.max(0), (self.W, self.H))
        return np.array([x1, y1, max(0.0, x2 - x1), max(0.0, y2 - y1)])

    def visibility(self, t: float, grid: int = 24) -> float:
        """Fraction of the target's opacity inside the frame and not covered by objects in
        front, rasterised on a small grid over its box.
        """
        pts = self.corners(self.target, t)
        (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
        side = max(x2 - x1, y2 - y1, 1e-3)
        to_grid = np.array([[grid / side, 0, -x1 * grid / side], [0, grid / side, -y1 * grid / side]])
        target = self._alpha(self.target, t, to_grid, grid)
        total = float(target.sum())
        if total <= 0:
            return 0.0
        cover = np.zeros_like(target)
        for actor in self.actors:
            if actor.front:
                a = self._alpha(actor, t, to_grid, grid)
                cover = cover + a - cover * a
        visible = target * (1 - cover)
        fx1, fy1 = to_grid[:, 2]
        fx2, fy2 = to_grid[:, :2] @ np.array([self.W, self.H]) + to_grid[:, 2]
        ys, xs = np.mgrid[0:grid, 0:grid] + 0.5
        inside = (xs >= fx1) & (xs <= fx2) & (ys >= fy1) & (ys <= fy2)
        return float((visible * inside).sum()) / total

    def _alpha(self, actor: Actor, t: float, to_grid: np.ndarray, grid: int) -> np.ndarray:
        obj = self.bank.objects[actor.asset]
        m = _compose(to_grid, actor.matrix(t, obj))
        level = _pick_level(m, len(obj.levels))
        alpha = obj.levels[level][..., 3]
        return cv2.warpAffine(alpha, _level_matrix(m, level), (grid, grid), flags=cv2.INTER_LINEAR) * (1 / 255.0)

    # -- rendering ---------------------------------------------------------------------

    def render(self, t: float, cx: float, cy: float, side: int, out: int) -> np.ndarray:
        """The tracker's crop of frame t (RGB uint8), zero outside the frame."""
        to_crop = crop_matrix(cx, cy, side, out)
        bg_levels = self.bank.backgrounds[self.bg]
        m = _compose(to_crop, self.camera(t))
        level = _pick_level(m, len(bg_levels))
        canvas = cv2.warpAffine(
            bg_levels[level], _level_matrix(m, level), (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        cam_shift = _compose(to_crop, self.camera(t + 0.5))[:, 2] - _compose(to_crop, self.camera(t - 0.5))[:, 2]
        kernel = _line_kernel(*(cam_shift * self.exposure))
        if kernel is not None:
            canvas = cv2.filter2D(canvas, -1, kernel)
        canvas = canvas.astype(np.float32)
        for actor in self.actors:
            self._draw(canvas, actor, t, to_crop, out)
        canvas = cv2.multiply(canvas, self._light(t, to_crop, out))
        if self.noise:
            canvas = cv2.scaleAdd(self._noise(t, out), self.noise, canvas)
        if self.defocus:
            canvas = cv2.GaussianBlur(canvas, (5, 5), 1.0)
        # Zero padding outside the frame, as the tracker's crops have.
        (fx1, fy1), (fx2, fy2) = (to_crop[:, :2] @ np.array(p) + to_crop[:, 2] for p in ((0, 0), (self.W, self.H)))
        x1, y1 = max(0, int(math.ceil(fx1))), max(0, int(math.ceil(fy1)))
        x2, y2 = min(out, int(math.floor(fx2)) + 1), min(out, int(math.floor(fy2)) + 1)
        result = np.zeros((out, out, 3), np.uint8)
        if x2 > x1 and y2 > y1:
            result[y1:y2, x1:x2] = np.clip(canvas[y1:y2, x1:x2], 0, 255)
        return result

    def _draw(self, canvas: np.ndarray, actor: Actor, t: float, to_crop: np.ndarray, out: int) -> None:
        obj = self.bank.objects[actor.asset]
        m = _compose(to_crop, actor.matrix(t, obj))
        pts = obj.hull @ m[:, :2].T + m[:, 2]
        velocity = (actor.centre(t + 0.5) - actor.centre(t - 0.5)) * to_crop[0, 0]
        kernel = _line_kernel(*(velocity * self.exposure))
        pad = 0 if kernel is None else kernel.shape[0] // 2 + 1
        x1, y1 = np.floor(pts.min(0)).astype(int) - pad
        x2, y2 = np.ceil(pts.max(0)).astype(int) + pad + 1
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, out), min(y2, out)
        if x2 <= x1 or y2 <= y1:
            return
        level = _pick_level(m, len(obj.levels))
        mk = _level_matrix(m, level).copy()
        mk[:, 2] -= (x1, y1)
        layer = cv2.warpAffine(obj.levels[level], mk, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR)
        if kernel is not None:
            layer = cv2.filter2D(layer, -1, kernel)
        alpha = layer[..., 3:].astype(np.float32) * (1 / 255.0)
        roi = canvas[y1:y2, x1:x2]
        roi *= 1.0 - alpha
        roi += layer[..., :3].astype(np.float32) * actor.gain

    def _light(self, t: float, to_crop: np.ndarray, out: int) -> np.ndarray:
        """Per-pixel RGB gain: global level and colour cast times a linear light gradient
        across the frame.
        """
        g = math.exp(self.light.at(t))
        gx, gy = self.light_grad.at(t)
        # Frame coordinate of crop pixel i: (i + 0.5 - offset) / scale - 0.5.
        s, ox, oy = to_crop[0, 0], to_crop[0, 2], to_crop[1, 2]
        idx = np.arange(out, dtype=np.float32)
        ramp_x = gx * (((idx + 0.5 - ox) / s - 0.5) / self.W - 0.5)
        ramp_y = gy * (((idx + 0.5 - oy) / s - 0.5) / self.H - 0.5)
        gain = (g * (1.0 + ramp_y[:, None] + ramp_x[None, :])).astype(np.float32)
        return cv2.merge([gain * float(c) for c in self.cast])

    def _noise(self, t: float, out: int) -> np.ndarray:
        bank = _noise_bank()
        y, x = (int(v) for v in np.random.default_rng([self.noise_seed, int(t), out]).integers(0, len(bank) - out, 2))
        return bank[y : y + out, x : x + out]


_NOISE: np.ndarray | None = None


def _noise_bank() -> np.ndarray:
    """A fixed tile of unit Gaussian noise; crops take random windows of it (cheap)."""
    global _NOISE
    if _NOISE is None:
        _NOISE = np.random.default_rng(12345).standard_normal((1024, 1024, 3)).astype(np.float32)
    return _NOISE


class SceneFrame:
    def __init__(self, scene: SyntheticScene, t: float) -> None:
        self.scene, self.t = scene, t

    def crop(self, cx: float, cy: float, side: int, out_size: int) -> np.ndarray:
        return self.scene.render(self.t, cx, cy, side, out_size)


class SyntheticSource:
    """Endless synthetic sequences: each pair comes from a freshly drawn scene."""

    name = "synthetic"
    is_video = True

    def __init__(
        self,
        assets: str | Path | None = None,
        procedural: bool | None = None,
        max_objects: int | None = None,
        photo_objects: int = 0,
        photo_fraction: float = 0.5,
        seed: int = 0,
    ):
        """``assets``: the fetched cache (default: the standard cache location). Without it,
        procedural assets are used, unless ``procedural`` is False (then it is an error).
        ``photo_objects`` targets are cut from the backgrounds (seeded by ``seed``) and make
        up ``photo_fraction`` of the objects drawn.
        """
        from .assets import default_cache

        directory = Path(assets) if assets else default_cache()
        if procedural or (procedural is None and not (directory / "index.json").is_file()):
            if procedural is None:
                log.warning(
                    "no synthetic assets at %s: using procedural shapes (run 'asymtrack synth fetch')", directory
                )
            self.bank = AssetBank.procedural()
        else:
            self.bank = AssetBank.load(directory, max_objects)
        if photo_objects:
            self.bank.add_photo_objects(np.random.default_rng(seed), photo_objects, photo_fraction)

    def sample_pair(self, rng: np.random.Generator, max_gap: int) -> tuple | None:
        scene = SyntheticScene(self.bank, rng)
        for _ in range(10):
            t0 = float(rng.integers(0, max(1, SEQUENCE_FRAMES - max_gap)))
            t1 = t0 + float(rng.integers(1, max_gap + 1))
            b0, b1 = scene.box(t0), scene.box(t1)
            if min(b0[2], b0[3], b1[2], b1[3]) < 2:
                continue
            if scene.visibility(t0) >= TEMPLATE_VISIBLE and scene.visibility(t1) >= SEARCH_VISIBLE:
                return SceneFrame(scene, t0), b0, SceneFrame(scene, t1), b1
        return None

    def sample_hidden_pair(self, rng: np.random.Generator, max_gap: int) -> tuple | None:
        """A pair, then the same target's box at a time an occluder crossing it hides it:
        the frame a tracker meets when its target goes behind something, whose crop there must
        score as a negative (else the tracker follows the occluder).
        """
        scene = SyntheticScene(self.bank, rng)
        crossings = [a.cross_t for a in scene.actors if a.front and a.follow is scene.target]
        if not crossings:
            return None
        for _ in range(MAX_TRIES):
            th = float(round(float(rng.choice(crossings)) + float(rng.normal(0.0, 3.0))))
            t0 = th - float(rng.integers(1, max_gap + 1))
            t1 = t0 + float(rng.integers(1, max_gap + 1))
            if min(t0, t1, th) < 0 or max(t0, t1, th) >= SEQUENCE_FRAMES:  # times seed the noise
                continue
            bh = scene.box(th)
            if min(bh[2], bh[3]) < 2 or scene.visibility(th) >= HIDDEN_VISIBLE:
                continue
            b0, b1 = scene.box(t0), scene.box(t1)
            if min(b0[2], b0[3], b1[2], b1[3]) < 2:
                continue
            if scene.visibility(t0) >= TEMPLATE_VISIBLE and scene.visibility(t1) >= SEARCH_VISIBLE:
                return SceneFrame(scene, t0), b0, SceneFrame(scene, t1), b1, SceneFrame(scene, th), bh
        return None

    def sample_frame(self, rng: np.random.Generator) -> tuple | None:
        scene = SyntheticScene(self.bank, rng)
        for _ in range(10):
            t = float(rng.integers(0, SEQUENCE_FRAMES))
            box = scene.box(t)
            if min(box[2], box[3]) >= 2 and scene.visibility(t) >= SEARCH_VISIBLE:
                return SceneFrame(scene, t), box
        return None
