"""A training checkpoint to the file the package ships: deploy form (re-parameterised),
a top-level ``variant``, fp16 weights when the outputs keep parity with fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.asymtrack import AsymTrack
from ..models.checkpoint import load_checkpoint
from .pairs import Augment, PairDataset, collate, to_input
from .synthetic import SyntheticSource

# fp16 storage is accepted when boxes move by at most this (normalised to the search crop:
# 1e-3 is a quarter pixel on a 256 px crop) and the score by at most SCORE_TOLERANCE.
BOX_TOLERANCE = 1e-3
SCORE_TOLERANCE = 1e-3


def _parity_inputs(net: AsymTrack, pairs: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Realistic crops (procedural synthetic pairs) rather than noise, which exercises
    ranges the tracker never feeds.
    """
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], net.variant, Augment(), seed=7, length=pairs)
    batch = collate([data[i] for i in range(pairs)])
    return to_input(batch["template"]), to_input(batch["search"])


@torch.no_grad()
def _outputs(net: AsymTrack, template: torch.Tensor, search: torch.Tensor) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.track(search, net.encode_template(template)).items()}


def ship(checkpoint: str | Path, out: str | Path, variant: str | None = None, allow_fp16: bool = True) -> dict:
    """Write the deploy-form file; returns what was written and the measured fp16 parity."""
    net = load_checkpoint(checkpoint, variant)
    name = net.variant.name
    state = net.state_dict()
    template, search = _parity_inputs(net)
    ref = _outputs(net, template, search)
    half = AsymTrack(name, score_head=net.score_head is not None).reparameterize().eval()
    half.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in state.items()})
    got = _outputs(half, template, search)
    box_diff = float(np.abs(got["boxes"] - ref["boxes"]).max())
    score_diff = float(np.abs(got["score"] - ref["score"]).max())
    fp16 = allow_fp16 and box_diff <= BOX_TOLERANCE and score_diff <= SCORE_TOLERANCE
    weights = {k: v.half() if fp16 and v.is_floating_point() else v for k, v in state.items()}
    report = {
        "variant": name,
        "precision": "fp16" if fp16 else "fp32",
        "score_head": net.score_head is not None,
        "fp16_max_box_diff": box_diff,
        "fp16_max_score_diff": score_diff,
        "source": Path(checkpoint).name,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"variant": name, "net": weights, "info": report}, out)
    load_checkpoint(out, name)  # what was written loads strictly
    report["path"] = str(out)
    report["bytes"] = out.stat().st_size
    return report
