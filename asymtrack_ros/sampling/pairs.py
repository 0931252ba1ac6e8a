"""Training pairs: sources mixed by ratio, (template, search) frames sampled as the reference
does, crops in the tracker's geometry with the reference's jitter and colour augmentation,
and the search-frame box as target in normalised search-crop coordinates (with the
template's box in its crop, which SEAT's template branch takes).

Each sample is a pure function of (seed, sample id): workers, ranks and resumed runs see
the same data stream without carrying random state around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..contracts.spec import IMAGENET_MEAN, IMAGENET_STD
from .geometry import box_center, box_in_crop, crop_side, jitter_box


class CropSizes(Protocol):
    """An AsymTrack variant or a SEAT architecture: the crop sizes the network takes."""

    template_size: int
    search_size: int


TEMPLATE_FACTOR = 2.0
SEARCH_FACTOR = 4.0


@dataclass
class Augment:
    """Jitter relative to sqrt(w*h) of the box (the reference's sense); probabilities."""

    template_center_jitter: float = 0.0
    template_scale_jitter: float = 0.0
    search_center_jitter: float = 3.5
    search_scale_jitter: float = 0.5
    grayscale: float = 0.05  # joint: template and search together
    flip: float = 0.5  # per crop, as the reference's joint-then-per-image flips amount to
    brightness: float = 0.2  # per crop: pixel values times U(1 - b, 1 + b)
    # Small targets: with this probability the pair is re-sampled as if the target were
    # U(low_res_px) pixels across in its frames (a far drone's view): both crops are taken
    # down to that resolution and back up, as the tracker's crops of such a target are.
    low_res: float = 0.0
    low_res_px: tuple[float, float] = (8.0, 32.0)


def _resample(patch: np.ndarray, pixels: int) -> np.ndarray:
    """``patch`` as seen through ``pixels`` x ``pixels`` source pixels."""
    if pixels >= patch.shape[0]:
        return patch
    small = cv2.resize(patch, (pixels, pixels), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, patch.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def _colour(rng: np.random.Generator, patch: np.ndarray, gray: bool, brightness: float) -> np.ndarray:
    if gray:
        patch = cv2.cvtColor(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if brightness > 0:
        patch = cv2.convertScaleAbs(patch, alpha=rng.uniform(max(0.0, 1 - brightness), 1 + brightness))
    return patch


def make_pair(
    rng: np.random.Generator,
    template_frame,
    template_box: np.ndarray,
    search_frame,
    search_box: np.ndarray,
    variant: CropSizes,
    aug: Augment,
) -> dict | None:
    """Crops and target for one pair; None if the jittered crop lost the target centre."""
    tb = jitter_box(rng, template_box, aug.template_center_jitter, aug.template_scale_jitter)
    sb = jitter_box(rng, search_box, aug.search_center_jitter, aug.search_scale_jitter)
    t_side, s_side = crop_side(tb[2], tb[3], TEMPLATE_FACTOR), crop_side(sb[2], sb[3], SEARCH_FACTOR)
    s_cx, s_cy = box_center(sb)
    target = box_in_crop(search_box, s_cx, s_cy, s_side)
    template_target = box_in_crop(template_box, *box_center(tb), t_side)
    if not (0.0 < target[0] < 1.0 and 0.0 < target[1] < 1.0):
        return None
    template = template_frame.crop(*box_center(tb), t_side, variant.template_size)
    search = search_frame.crop(s_cx, s_cy, s_side, variant.search_size)
    if aug.low_res and rng.random() < aug.low_res:
        # crop sides scale with the target: side / size is the crop's factor of it
        size = float(np.sqrt(search_box[2] * search_box[3]))
        scale = min(1.0, rng.uniform(*aug.low_res_px) / max(size, 1e-6))
        template = _resample(template, max(4, round(t_side * scale)))
        search = _resample(search, max(4, round(s_side * scale)))
    gray = rng.random() < aug.grayscale
    template = _colour(rng, template, gray, aug.brightness)
    search = _colour(rng, search, gray, aug.brightness)
    if rng.random() < aug.flip:
        template = template[:, ::-1]
        template_target[0] = 1.0 - template_target[0]
    if rng.random() < aug.flip:
        search = search[:, ::-1]
        target[0] = 1.0 - target[0]
    return {
        "template": np.ascontiguousarray(template),
        "search": np.ascontiguousarray(search),
        "box": target,
        "template_box": template_target,
    }


def far_crop_centre(rng: np.random.Generator, box: np.ndarray, side: int) -> tuple[float, float]:
    """A search-crop centre whose crop (``side``) cannot contain any of ``box``."""
    cx, cy = box_center(box)
    reach = (side / 2 + max(box[2], box[3]) / 2) * np.sqrt(2) * rng.uniform(1.0, 1.5)
    a = rng.uniform(0, 2 * np.pi)
    return cx + reach * np.cos(a), cy + reach * np.sin(a)


class PairDataset(Dataset):
    """``dataset[i]``: the pair of sample id i. With probability ``neg_prob`` the item also
    holds ``neg_search``: a crop without the template's target (another sequence's target,
    or the search frame far from the target), for the score head. With probability
    ``hidden_prob``, a pair from a source that knows when its target is hidden
    (``sample_hidden_pair``) carries instead the crop where its target is covered by an
    occluder: the negative that teaches the score head not to follow the occluder.
    """

    def __init__(
        self,
        sources: list,
        weights: list[float],
        variant: CropSizes,
        augment: Augment,
        max_gap: int = 200,
        neg_prob: float = 0.0,
        seed: int = 0,
        length: int = 1,
        hidden_prob: float = 0.0,
    ) -> None:
        if not sources or len(sources) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("need at least one data source and non-negative weights with a positive sum")
        if not 0.0 <= hidden_prob <= 1.0:
            raise ValueError("hidden_prob must be in [0, 1]")
        self.sources = sources
        self.p = np.asarray(weights, np.float64) / sum(weights)
        self.variant, self.augment, self.max_gap = variant, augment, max_gap
        self.neg_prob, self.hidden_prob, self.seed, self.length = neg_prob, hidden_prob, seed, length

    def __len__(self) -> int:
        return self.length

    def _source(self, rng: np.random.Generator):
        return self.sources[int(rng.choice(len(self.sources), p=self.p))]

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        for _ in range(100):
            source = self._source(rng)
            hidden = self.hidden_prob > 0 and hasattr(source, "sample_hidden_pair") and rng.random() < self.hidden_prob
            got = source.sample_hidden_pair(rng, self.max_gap) if hidden else source.sample_pair(rng, self.max_gap)
            if got is None:
                continue
            pair = got[:4]
            item = make_pair(rng, *pair, self.variant, self.augment)
            if item is not None:
                break
        else:
            raise RuntimeError("no valid training pair in 100 tries: do the sources have visible targets?")
        if hidden:
            item["neg_search"] = self._crop_around(rng, *got[4:])
        elif rng.random() < self.neg_prob:
            neg = self._negative(rng, pair[2], pair[3])
            if neg is not None:
                item["neg_search"] = neg
        return item

    def _negative(self, rng: np.random.Generator, frame, box: np.ndarray) -> np.ndarray | None:
        # a cached crop (``full_frame`` False) holds nothing far from the target
        if rng.random() < 0.5 or not getattr(frame, "full_frame", True):
            other = self._source(rng).sample_frame(rng)
            return None if other is None else self._crop_around(rng, *other)
        sb = jitter_box(rng, box, 0.0, self.augment.search_scale_jitter)
        side = crop_side(sb[2], sb[3], SEARCH_FACTOR)
        return self._search_crop(rng, frame, *far_crop_centre(rng, box, side), side)

    def _crop_around(self, rng: np.random.Generator, frame, box: np.ndarray) -> np.ndarray:
        """A search crop placed about ``box`` as the positives' are (same jitter)."""
        aug = self.augment
        sb = jitter_box(rng, box, aug.search_center_jitter, aug.search_scale_jitter)
        return self._search_crop(rng, frame, *box_center(sb), crop_side(sb[2], sb[3], SEARCH_FACTOR))

    def _search_crop(self, rng: np.random.Generator, frame, cx: float, cy: float, side: float) -> np.ndarray:
        aug = self.augment
        patch = _colour(rng, frame.crop(cx, cy, side, self.variant.search_size), False, aug.brightness)
        return np.ascontiguousarray(patch[:, ::-1]) if rng.random() < aug.flip else patch


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """uint8 NHWC crops, float boxes (the search target and the template's own); negatives
    stacked with the index of their template.
    """
    keys = ("template", "search", "box", "template_box")
    batch = {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in keys}
    neg = [i for i, it in enumerate(items) if "neg_search" in it]
    batch["neg_index"] = torch.tensor(neg, dtype=torch.long)
    batch["neg_search"] = (
        torch.from_numpy(np.stack([items[i]["neg_search"] for i in neg]))
        if neg
        else torch.zeros((0, *items[0]["search"].shape), dtype=torch.uint8)
    )
    return batch


class PairSampler(Sampler[int]):
    """Sample ids of one epoch for one rank: ``epoch * per_epoch + i`` for i = rank,
    rank + world, ... (DistributedSampler-style sharding), from the ``skip``-th on (resume).
    """

    def __init__(self, per_epoch: int, epoch: int, rank: int = 0, world: int = 1, skip: int = 0) -> None:
        self.ids = range(epoch * per_epoch + rank, (epoch + 1) * per_epoch, world)[skip:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


_MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
_STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> the network's normalised float NCHW (as the tracker feeds it)."""
    x = images.permute(0, 3, 1, 2).float()
    return (x - _MEAN.to(x.device)) / _STD.to(x.device)
