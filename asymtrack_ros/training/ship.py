"""Training checkpoints to the file the package ships: for AsymTrack deploy form
(re-parameterised) with a top-level ``variant``, for SEAT the published network's state dict
with its ``arch``; fp16 weights when the outputs keep parity with fp32; several checkpoints
of one run are averaged first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.asymtrack import AsymTrack, widths_to_text
from ..models.checkpoint import is_deploy_form, load_checkpoint, network_from_state, recorded_variant, state_dict_of
from ..models.safe_pickle import CheckpointError, read_checkpoint
from ..models.seat.arch import SeatArch, arch_from_dict
from ..sampling.pairs import Augment, CropSizes, PairDataset, collate, to_input
from ..sampling.synthetic import SyntheticSource

# fp16 storage is accepted when boxes move by at most this (normalised to the search crop:
# 1e-3 is a quarter pixel on a 256 px crop) and the score by at most SCORE_TOLERANCE.
BOX_TOLERANCE = 1e-3
SCORE_TOLERANCE = 1e-3
# SEAT: the largest change over every cell of the maps (256 per crop); the tracker's state
# thresholds on the score are 0.3 / 0.45 apart. l, t, r, b distances in search-crop pixels:
# half a pixel is 1/32 of a cell.
SEAT_SCORE_TOLERANCE = 5e-3
SEAT_REG_TOLERANCE = 0.5


def _parity_batch(sizes: CropSizes, pairs: int = 8) -> dict[str, torch.Tensor]:
    """Realistic crops (procedural synthetic pairs) rather than noise, which exercises
    ranges the tracker never feeds.
    """
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], sizes, Augment(), seed=7, length=pairs)
    return collate([data[i] for i in range(pairs)])


@torch.no_grad()
def _outputs(net: AsymTrack, template: torch.Tensor, search: torch.Tensor) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.track(search, net.encode_template(template)).items()}


def averaged_network(checkpoints: list[Path], variant: str | None = None) -> AsymTrack:
    """The mean of training-form weights, folded (weight averaging of late epochs of one
    run, whose single checkpoints can differ a lot on real footage). Deploy-form files are
    refused: folding BatchNorm is not linear, so their mean is not the mean network.
    """
    states, recorded = [], set()
    for path in checkpoints:
        ckpt = read_checkpoint(path)
        state = state_dict_of(ckpt, path)
        if is_deploy_form(state):
            raise CheckpointError(f"{path}: deploy-form weights cannot be averaged; use training checkpoints")
        states.append(state)
        recorded.add(recorded_variant(ckpt))
    if len(recorded) > 1:
        raise CheckpointError(f"checkpoints record different variants: {sorted(map(str, recorded))}")
    mean = _mean_state(states, checkpoints)
    return network_from_state(mean, recorded.pop(), variant, f"average of {len(states)} checkpoints")


def _mean_state(states: list[dict[str, torch.Tensor]], paths: list[Path]) -> dict[str, torch.Tensor]:
    first = states[0]
    for state, path in zip(states, paths):
        if state.keys() != first.keys() or any(v.shape != first[k].shape for k, v in state.items()):
            raise CheckpointError(f"{path}: weights do not match {paths[0]}'s (another architecture?)")
    return {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
        for k, v in first.items()
    }


def _half_where_representable(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 for every floating tensor fp16 can hold; fp32 for the few it cannot (e.g. the
    running variance of SEAT's correlation BatchNorm, in the millions).
    """
    return {k: v.half() if v.is_floating_point() and torch.isfinite(v.half()).all() else v for k, v in state.items()}


@torch.no_grad()
def ship_seat(paths: list[Path], out: Path, allow_fp16: bool = True, tracker: dict[str, float] | None = None) -> dict:
    """SEAT: the (mean) state dict and its architecture, fp16 (where representable) when
    cls scores and box distances keep parity on realistic crops. ``tracker`` replaces
    hyper-parameters of the file's ``arch.tracker`` (the post-processing travels with the
    weights it was chosen for).
    """
    from ..models.seat.checkpoint import load_seat_checkpoint
    from ..models.seat.net import SeatNet
    from .seat_objective import seat_input, template_boxes

    nets = [load_seat_checkpoint(p) for p in paths]
    arch = nets[0].arch
    if any(not n.arch.same_network(arch) for n in nets):
        raise CheckpointError("checkpoints hold different SEAT architectures")
    if tracker:
        arch = with_tracker_hypers(arch, tracker)
    net = SeatNet(arch).eval()
    net.load_state_dict(_mean_state([n.state_dict() for n in nets], paths))
    b = _parity_batch(arch)
    inputs = (seat_input(b["template"]), seat_input(b["search"]), template_boxes(b["template_box"], arch.template_size))
    ref = net(*inputs)
    stored = _half_where_representable(net.state_dict())
    half = SeatNet(arch).eval()
    half.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in stored.items()})
    got = half(*inputs)
    score_diff = float((torch.sigmoid(got[0]) - torch.sigmoid(ref[0])).abs().max())
    reg_diff = float((got[1] - ref[1]).abs().max())
    fp16 = allow_fp16 and score_diff <= SEAT_SCORE_TOLERANCE and reg_diff <= SEAT_REG_TOLERANCE
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": stored if fp16 else net.state_dict(), "arch": arch.to_dict()}, out)
    load_seat_checkpoint(out, arch)  # what was written loads strictly
    return {
        "variant": f"seat-{arch.variant}",
        "precision": "fp16" if fp16 else "fp32",
        "fp32_tensors": [k for k, v in stored.items() if v.dtype == torch.float32] if fp16 else "all",
        "fp16_max_score_diff": score_diff,
        "fp16_max_reg_diff_px": reg_diff,
        "source": " + ".join(p.name for p in paths),
        "path": str(out),
        "bytes": out.stat().st_size,
    }


def with_tracker_hypers(arch: SeatArch, values: dict[str, float]) -> SeatArch:
    """``arch`` with some of its tracker hyper-parameters replaced, validated as a file's."""
    d = arch.to_dict()
    d["tracker"] = {**d["tracker"], **values}
    return arch_from_dict(d, "--tracker")


def ship(
    checkpoints: list[str | Path],
    out: str | Path,
    variant: str | None = None,
    allow_fp16: bool = True,
    tracker: dict[str, float] | None = None,
) -> dict:
    """Write the shipped file of one checkpoint or of the mean of several; returns what
    was written and the measured fp16 parity.
    """
    from ..models.seat.checkpoint import is_seat_file

    paths = [Path(c) for c in checkpoints]
    if not paths:
        raise ValueError("ship needs at least one checkpoint")
    if is_seat_file(paths[0]):
        return ship_seat(paths, Path(out), allow_fp16, tracker)
    if tracker:
        raise ValueError("AsymTrack files carry no tracker hyper-parameters (set TrackerParams instead)")
    net = load_checkpoint(paths[0], variant) if len(paths) == 1 else averaged_network(paths, variant)
    name = net.variant.name
    state = net.state_dict()
    batch = _parity_batch(net.variant)
    template, search = to_input(batch["template"]), to_input(batch["search"])
    ref = _outputs(net, template, search)
    half = AsymTrack(name, net.score_head is not None, net.slim).reparameterize().eval()
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
        "source": " + ".join(p.name for p in paths),
    }
    if net.slim:
        report["slim"] = widths_to_text(net.slim, net.variant)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"variant": name, "net": weights, "info": report}, out)
    load_checkpoint(out, name)  # what was written loads strictly
    report["path"] = str(out)
    report["bytes"] = out.stat().st_size
    return report
