"""The registered tracker families, and which one a checkpoint or a model description is of.

Adding a family: a module like ``seat.py`` and its entry in ``FAMILIES``.
"""

from __future__ import annotations

from pathlib import Path

from .asymtrack import ASYMTRACK
from .family import Family
from .seat import SEAT

FAMILIES: tuple[Family, ...] = (ASYMTRACK, SEAT)


def names() -> tuple[str, ...]:
    return tuple(f.name for f in FAMILIES)


def by_name(name: str) -> Family:
    """The family of a model description's ``family``."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise ValueError(f"no tracker for model family {name!r}; known: {', '.join(names())}")


def of_checkpoint(path: str | Path) -> Family:
    """The family whose checkpoints hold what ``path`` holds (read safely)."""
    from ..models.safe_pickle import CheckpointError, read_checkpoint  # torch: only to read a checkpoint

    ckpt = read_checkpoint(path)
    for family in FAMILIES:
        if family.recognises(ckpt):
            return family
    forms = "; ".join(f"{f.title}: {f.checkpoint_form}" for f in FAMILIES)
    raise CheckpointError(f"{path}: not a checkpoint of a known tracker family ({forms})")
