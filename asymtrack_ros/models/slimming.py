"""Slimming: the expanded modulation blocks cut to the hidden units that matter, with no
retraining.

An expanded block (ratio r) multiplies r * dim GELU units by a dim-channel context tiled r
times, and fc2 sums them back to dim channels. On a CPU the block's time is that of its
widest tensors (stage 1: 4096 tokens x 192 units, in fp32 between the int8 products), so
the units are what to cut. Each kept unit takes its own context channel (g's row of the
tile), which also removes the tiling's broadcast. Units are ranked by what they add to the
block's output on real crops (RMS activation times the norm of their fc2 column), and fc2
is then refit by ridge least squares to what the original network's block adds at that
point, so that the remaining units also absorb the cut ones and the drift of earlier
slimmed blocks. Blocks are slimmed in network order, each fitted on the already-slimmed
network's input.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from .asymtrack import AsymTrack, SlimWidths, check_slimmable
from .asymtrack_blocks import HW, BasicBlock, ModulationMlp

RIDGE = 1e-4  # of the mean activation energy: keeps the refit stable for rarely active units
TOKENS_PER_CROP = 512  # the refit samples this many tokens of each crop's feature map


def block_input(
    net: AsymTrack, template: torch.Tensor, search: torch.Tensor, stage: int, block: int
) -> tuple[torch.Tensor, HW]:
    """The search stream entering basic block ``block`` of ``stage`` (basic blocks come
    first in a stage, so the template only matters through earlier stages' modulation).
    """
    cache = net.encode_template(template)
    x, hw = net.backbone.patch_embed(search)
    for i, layer in enumerate(net.backbone.layers):
        if i == stage:
            for blk in layer.blocks[:block]:
                x = blk(x, hw)
            return x, hw
        x, hw = layer.search_forward(x, hw, cache, i + 1)
    raise ValueError(f"no stage {stage}")


def hidden_units(mlp: ModulationMlp, u: torch.Tensor, hw: HW) -> torch.Tensor:
    """The block's hidden activations (GELU units times their context) [..., units] for its
    normalised input ``u``; fc2 of these is the block's output.
    """
    h, ctx = F.gelu(mlp.fc1(u)), mlp.context_layer(u, hw)
    if mlp.hidden is None:
        ctx = ctx.repeat(*([1] * (ctx.dim() - 1)), mlp.ratio)  # the reference's tiling
    return h * ctx


def _context_rows(mlp: ModulationMlp) -> torch.Tensor:
    """The context channel of each hidden unit, as g row indices."""
    units = mlp.fc1.out_features
    return torch.arange(units) % mlp.context_layer.g.out_features


@torch.no_grad()
def slim_block(
    mlp: ModulationMlp, keep: torch.Tensor, fc2_weight: torch.Tensor, fc2_bias: torch.Tensor
) -> ModulationMlp:
    """A slim block of the units ``keep`` of ``mlp``, with the given fc2."""
    dim = mlp.fc1.in_features
    out = ModulationMlp(dim, mlp.ratio, len(keep))
    rows = _context_rows(mlp)[keep]
    out.fc1.weight.copy_(mlp.fc1.weight[keep])
    out.fc1.bias.copy_(mlp.fc1.bias[keep])
    ctx = out.context_layer
    ctx.f.load_state_dict(mlp.context_layer.f.state_dict())
    ctx.context_list.load_state_dict(mlp.context_layer.context_list.state_dict())
    ctx.g.weight.copy_(mlp.context_layer.g.weight[rows])
    ctx.g.bias.copy_(mlp.context_layer.g.bias[rows])
    out.fc2.weight.copy_(fc2_weight)
    out.fc2.bias.copy_(fc2_bias)
    return out


def ridge_fit(a: torch.Tensor, target: torch.Tensor, ridge: float = RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight [C, k] and bias [C] minimising |a W^T + b - target|^2 + ridge * mean energy * |W|^2."""
    a, target = a.double(), target.double()
    mean_a, mean_t = a.mean(0), target.mean(0)
    ac, tc = a - mean_a, target - mean_t
    gram = ac.T @ ac
    gram += ridge * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    weight = torch.linalg.solve(gram, ac.T @ tc).T
    return weight.float(), (mean_t - mean_a @ weight.T).float()


@torch.no_grad()
def slim(
    net: AsymTrack,
    widths: SlimWidths,
    pairs: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int = 0,
    refit: bool = True,
) -> AsymTrack:
    """A copy of deploy-form ``net`` with the expanded blocks of ``widths`` cut to that many
    hidden units, fitted on ``pairs`` of normalised (template, search) crop batches.
    ``refit=False`` keeps the kept units' fc2 columns: the plain cut, what the refit is
    measured against.
    """
    check_slimmable(widths, net.variant)
    if not pairs:
        raise ValueError("slimming needs at least one batch of crops")
    student = copy.deepcopy(net).eval()
    gen = torch.Generator().manual_seed(seed)
    for stage, block in sorted(widths):
        teacher_blk: BasicBlock = net.backbone.layers[stage].blocks[block]
        blk: BasicBlock = student.backbone.layers[stage].blocks[block]
        units = blk.mlp.fc1.out_features
        width = widths[(stage, block)]
        if not 0 < width <= units:
            raise ValueError(f"block {(stage, block)} has {units} hidden units; cannot keep {width}")
        acts, targets = [], []
        for template, search in pairs:
            x_t, hw = block_input(net, template, search, stage, block)
            x_s, _ = block_input(student, template, search, stage, block)
            added = teacher_blk(x_t, hw) - x_s  # what the slim block must add to its input
            a = hidden_units(blk.mlp, blk.norm(x_s), hw)
            pick = torch.randint(0, a.shape[1], (a.shape[0], min(TOKENS_PER_CROP, a.shape[1])), generator=gen)
            acts.append(torch.gather(a, 1, pick[..., None].expand(-1, -1, a.shape[2])).flatten(0, 1))
            targets.append(torch.gather(added, 1, pick[..., None].expand(-1, -1, added.shape[2])).flatten(0, 1))
        a, target = torch.cat(acts), torch.cat(targets)
        importance = a.square().mean(0).sqrt() * blk.mlp.fc2.weight.norm(dim=0)
        keep = importance.argsort(descending=True)[:width].sort().values
        if refit:
            weight, bias = ridge_fit(a[:, keep], target)
        else:
            weight, bias = blk.mlp.fc2.weight[:, keep], blk.mlp.fc2.bias
        blk.mlp = slim_block(blk.mlp, keep, weight, bias)
        student.slim[(stage, block)] = width
    return student


def refit_error(net: AsymTrack, slimmed: AsymTrack, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """RMS difference of the backbone's output tokens between ``slimmed`` and ``net``,
    relative to the RMS of ``net``'s: how much of the features slimming changed.
    """
    num = den = 0.0
    with torch.no_grad():
        for template, search in pairs:
            ref = net.search_features(search, net.encode_template(template))[0]
            got = slimmed.search_features(search, slimmed.encode_template(template))[0]
            num += float((got - ref).square().sum())
            den += float(ref.square().sum())
    return math.sqrt(num / den) if den > 0 else 0.0
