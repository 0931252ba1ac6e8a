"""Deploy-form AsymTrack back to the training form, so that the shipped weights can be
fine-tuned and the checkpoints of that run keep the official (training) layout.

Exact in eval mode: ``unfold(net).reparameterize()`` gives the weights it started from.
The head's BatchNorms come back as identities; ``match_batchnorms`` then makes them
identities in training mode too (batch statistics), so that the first steps do not
re-normalise what the folded convs learned.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .asymtrack import AsymTrack
from .asymtrack_blocks import OPE, BasicBlock
from .corner_head import CornerHead


def _unfold_ope(train: OPE, deploy: OPE) -> None:
    # fused = W - s * P(W), P putting the kernel sum at the centre tap (a projection, P(P) = P),
    # so W = fused + s / (1 - s) * P(fused); split equally over the three branches.
    fused = deploy.reparam_conv.weight
    s = torch.sigmoid(train.theta)
    w = fused + s / (1 - s) * F.pad(fused.sum(dim=(2, 3))[:, :, None, None], (1, 1, 1, 1))
    for conv in train.rbr_conv:
        conv.weight.copy_(w / len(train.rbr_conv))


def _unfold_head(train: CornerHead, deploy: CornerHead) -> None:
    convs = [m for m in deploy.fused if isinstance(m, nn.Conv2d)]
    for i, conv in enumerate(convs, start=1):
        weights, biases = conv.weight.chunk(2), conv.bias.chunk(2)
        for side, w, b in zip(("tl", "br"), weights, biases):
            block = getattr(train, f"conv{i}_{side}")
            target, bn = (block, None) if isinstance(block, nn.Conv2d) else (block[0], block[1])
            target.weight.copy_(w)
            target.bias.copy_(b)
            if bn is not None:
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
                bn.weight.fill_((1.0 + bn.eps) ** 0.5)
                bn.bias.zero_()


@torch.no_grad()
def unfold(deploy: AsymTrack) -> AsymTrack:
    """A training-form network computing what the deploy-form ``deploy`` computes."""
    train = AsymTrack(deploy.variant, deploy.score_head is not None, deploy.slim)
    train.load_state_dict({k: v for k, v in deploy.state_dict().items() if k in train.state_dict()}, strict=False)
    modules = dict(deploy.named_modules())
    for name, module in train.named_modules():
        if isinstance(module, OPE):
            _unfold_ope(module, modules[name])
        elif isinstance(module, BasicBlock):
            module.gamma_1.fill_(1.0)  # fc2 already holds gamma * fc2
        elif isinstance(module, CornerHead):
            _unfold_head(module, modules[name])
    return train


@torch.no_grad()
def match_batchnorms(net: nn.Module, run: Callable[[], object], bns: list[nn.BatchNorm2d]) -> None:
    """Set each of ``net``'s BatchNorms ``bns`` to the identity on the batch statistics of
    its input in ``run()``: running mean / var to them, weight and bias to undo them. Eval
    mode stays an exact identity; training mode is one on that batch.
    """
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(bn: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        x = inputs[0].transpose(0, 1).flatten(1)
        stats[bn] = (x.mean(1), x.var(1, unbiased=False))

    handles = [bn.register_forward_hook(hook) for bn in bns]
    was_training = net.training
    net.eval()  # each BatchNorm an identity while the later ones are measured
    try:
        run()
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    for bn, (mean, var) in stats.items():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean)
