"""Official AsymTrack checkpoints (``AsymTrack_ep0500.pth.tar``) to deploy-form networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .asymtrack import AsymTrack, SlimWidths, expanded_blocks
from .asymtrack_variants import VARIANTS, AsymTrackVariant, get_variant
from .safe_pickle import CheckpointError, foreign_state, read_checkpoint
from .strict import load_strict, normalized_state


def is_asymtrack_checkpoint(ckpt: Any) -> bool:
    """Whether a checkpoint's content holds AsymTrack weights: an official file (key ``net``)
    or a bare state dict.
    """
    state = ckpt.get("net", ckpt) if isinstance(ckpt, dict) else None
    return isinstance(state, dict) and bool(state) and all(isinstance(v, torch.Tensor) for v in state.values())


def state_dict_of(ckpt: Any, path: Path) -> dict[str, torch.Tensor]:
    """The network weights of an official file (key ``net``) or of a bare state dict."""
    if not is_asymtrack_checkpoint(ckpt):
        raise CheckpointError(f"{path}: no AsymTrack state dict inside (expected a dict with key 'net')")
    return normalized_state(ckpt.get("net", ckpt))


def recorded_variant(ckpt: Any) -> str | None:
    """The variant the training run recorded (``settings.config_name``), when present."""
    if not isinstance(ckpt, dict):
        return None
    name = ckpt.get("variant") or foreign_state(ckpt.get("settings")).get("config_name")
    return name if name in VARIANTS else None


def _stage3_blocks(state: dict[str, torch.Tensor]) -> int:
    prefix = "backbone.layers.2.blocks."
    return len({k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)})


def load_checkpoint(path: str | Path, variant: str | None = None) -> AsymTrack:
    """Load an official (training-form) or deploy-form checkpoint, strictly, in eval/deploy
    form. ``variant`` defaults to the one the file records; a mismatch is an error.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    return network_from_state(state_dict_of(ckpt, path), recorded_variant(ckpt), variant, str(path))


def network_from_state(
    state: dict[str, torch.Tensor], recorded: str | None, variant: str | None, origin: str
) -> AsymTrack:
    """The deploy-form network of a training- or deploy-form state dict; ``origin`` names
    where it came from in errors.
    """
    if variant is None:
        variant = recorded or ("tiny" if _stage3_blocks(state) == 4 else None)
        if variant is None:
            raise CheckpointError(f"{origin}: records no variant; pass one of {sorted(VARIANTS)}")
    arch = get_variant(variant)
    if recorded is not None and recorded != variant:
        raise CheckpointError(f"{origin}: checkpoint is AsymTrack-{recorded}, asked for AsymTrack-{variant}")
    net = AsymTrack(arch, any(k.startswith("score_head.") for k in state), slim_widths(state, arch))
    if is_deploy_form(state):
        net.reparameterize()
    load_strict(net, state, origin, f"AsymTrack-{variant}", "; is it another variant?")
    return net.reparameterize().eval()


def slim_widths(state: dict[str, torch.Tensor], variant: AsymTrackVariant) -> SlimWidths:
    """The slimmed blocks of a state dict: an expanded block whose context has one channel
    per hidden unit (the reference tiles a ``dim``-channel context instead).
    """
    widths = {}
    for i, j in expanded_blocks(variant):
        prefix = f"backbone.layers.{i}.blocks.{j}.mlp."
        fc1, g = state.get(prefix + "fc1.weight"), state.get(prefix + "context_layer.g.weight")
        if fc1 is not None and g is not None and fc1.shape[0] == g.shape[0]:
            widths[(i, j)] = int(fc1.shape[0])
    return widths


def is_deploy_form(state: dict[str, torch.Tensor]) -> bool:
    return any(k.endswith("reparam_conv.weight") for k in state)
