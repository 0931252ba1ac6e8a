"""``asymtrack slim``: a deploy-form AsymTrack file with its expanded blocks slimmed
(``models.slimming``), fitted on the crops of a training config's data, written as a
checkpoint for ``asymtrack ship``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.asymtrack import AsymTrack, widths_from_text
from ..models.checkpoint import load_checkpoint
from ..models.slimming import refit_error, slim
from ..sampling.pairs import collate, to_input
from .config import load_config
from .datasets import config_pairs

BATCH = 8


def crop_batches(config: str | Path, net: AsymTrack, pairs: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised (template, search) batches of ``pairs`` pairs drawn as the training
    config draws them (its data sources, weights and augmentation).
    """
    dataset = config_pairs(load_config(config), net.variant, pairs, seed)
    batches = []
    for start in range(0, pairs, BATCH):
        items = collate([dataset[i] for i in range(start, min(pairs, start + BATCH))])
        batches.append((to_input(items["template"]), to_input(items["search"])))
    return batches


def slim_checkpoint(
    checkpoint: str | Path, widths: str, config: str | Path, out: str | Path, pairs: int = 256, seed: int = 0
) -> dict:
    """Write the slimmed network of ``checkpoint`` to ``out`` (fp32 deploy form); returns
    the widths and the relative change of the backbone's features on held-back crops.
    """
    net = load_checkpoint(checkpoint)
    if net.slim:
        raise ValueError(f"{checkpoint}: already slimmed {net.slim}; slim the file it came from")
    chosen = widths_from_text(widths, net.variant)
    if not chosen:
        raise ValueError("no block to slim: give at least one width above 0")
    fit = crop_batches(config, net, pairs, seed)
    held_back = crop_batches(config, net, max(BATCH, pairs // 8), seed + 1)
    slimmed = slim(net, chosen, fit, seed)
    cut = slim(net, chosen, fit, seed, refit=False)
    report = {
        "variant": net.variant.name,
        "slim": {f"{i}.{j}": w for (i, j), w in sorted(chosen.items())},
        "fit_pairs": pairs,
        "feature_change": round(refit_error(net, slimmed, held_back), 4),
        "feature_change_without_refit": round(refit_error(net, cut, held_back), 4),
        "source": Path(checkpoint).name,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"variant": net.variant.name, "net": slimmed.state_dict(), "info": report}, out)
    load_checkpoint(out)  # what was written loads strictly, slim widths and all
    return {**report, "path": str(out)}
