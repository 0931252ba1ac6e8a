"""SEAT checkpoints: ``{'state_dict', 'arch'}`` with ``arch`` the original architecture
string or one of our descriptions; loaded strictly, with errors naming what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..safe_pickle import CheckpointError, read_checkpoint
from ..strict import load_strict, normalized_state
from .arch import ArchError, SeatArch, arch_from_dict, arch_from_original, resolve_arch
from .net import SeatNet


def is_seat_checkpoint(ckpt: Any) -> bool:
    return isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict) and "arch" in ckpt


def is_seat_file(path: str | Path) -> bool:
    """Whether a checkpoint file holds a SEAT network (False for other families)."""
    return is_seat_checkpoint(read_checkpoint(path))


def recorded_arch(ckpt: dict, path: Path) -> SeatArch:
    arch = ckpt["arch"]
    try:
        if isinstance(arch, str):
            return arch_from_original(arch, f"{path}: arch")
        if isinstance(arch, dict):
            return arch_from_dict(arch, f"{path}: arch")
    except ArchError as err:
        raise CheckpointError(str(err)) from None
    raise CheckpointError(f"{path}: 'arch' must be an architecture string or description, got {type(arch).__name__}")


def _describe(a: SeatArch) -> str:
    blocks = ", ".join(f"{b.in_channels}->{b.out_channels} {b.head_op}+{list(b.stack_ops)}" for b in a.blocks)
    return f"SEAT-{a.variant} ({a.backbone}; {blocks or 'no blocks'})"


def load_seat_checkpoint(path: str | Path, arch: str | Path | SeatArch | None = None) -> SeatNet:
    """Strictly load a SEAT checkpoint in eval form. ``arch`` (variant name, description
    path or ``SeatArch``) defaults to what the file records; a mismatch is an error.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if not is_seat_checkpoint(ckpt):
        raise CheckpointError(f"{path}: not a SEAT checkpoint (expected a dict with 'state_dict' and 'arch')")
    recorded = recorded_arch(ckpt, path)
    wanted = recorded
    if arch is not None:
        try:
            wanted = resolve_arch(arch)
        except ArchError as err:
            raise CheckpointError(str(err)) from None
        if not wanted.same_network(recorded):
            raise CheckpointError(f"{path}: checkpoint is {_describe(recorded)}, asked for {_describe(wanted)}")
    state = ckpt["state_dict"]
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: state_dict holds non-tensor values")
    state = normalized_state(state)
    net = SeatNet(wanted)
    load_strict(net, state, path, _describe(wanted))
    return net.eval()


FIXED_PARTS = ("backbone", "neck", "match", "prediction")  # what a fusion-neck search leaves alone


def copy_fixed_parts(net: torch.nn.Module, source: SeatNet, where: str | Path) -> int:
    """Start a network with another fusion neck (the search's supernet, or the network it
    found) from a trained one's backbone, neck, CFM and head; returns the tensors copied.
    The fusion blocks and collector keep their initialisation.
    """
    src, own = source.state_dict(), net.state_dict()
    keep = {k: v for k, v in src.items() if k.split(".")[0] in FIXED_PARTS}
    bad = [k for k, v in keep.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"{where}: its backbone, neck, CFM or head do not fit this network ({bad[:3]})")
    net.load_state_dict(keep, strict=False)
    return len(keep)


def save_seat_checkpoint(net: SeatNet, path: str | Path) -> Path:
    path = Path(path)
    torch.save({"state_dict": net.state_dict(), "arch": net.arch.to_dict()}, path)
    return path
