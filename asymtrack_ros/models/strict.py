"""Strict state-dict loading shared by every model family: errors say what differs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .safe_pickle import CheckpointError


def normalized_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Without a DataParallel ``module.`` prefix, floating tensors in fp32 (files may be fp16)."""
    return {k.removeprefix("module."): v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path, name: str, hint: str = "") -> None:
    """Load ``state`` into ``net`` with strict keys and shapes; ``name`` describes the network."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not match {name} ({len(missing)} missing, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}){hint}"
        )
    bad = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items() if v.shape != expected[k].shape
    ]
    if bad:
        raise CheckpointError(f"{path}: tensor shapes differ from {name} at {bad[:3]}")
    net.load_state_dict(state, strict=True)
