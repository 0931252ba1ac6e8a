"""From searched weights to an architecture: the most probable path of widths by a
Viterbi pass over beta (product of edge probabilities from the CFM to the collector),
then per block on the path the argmax-alpha head op of the incoming edge and the
argmax-alpha stack ops with skips removed.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..models.seat.arch import SKIP, SeatArch, arch_from_dict
from .supernet import Supernet


def viterbi_path(net: Supernet) -> list[int]:
    g = net.graph
    beta = [F.softmax(b.detach().float(), -1).tolist() for b in net.betas]
    best: list[tuple[float, int]] = [(1.0, -1)]
    for j in range(1, g.last + 1):
        best.append(max((best[i][0] * beta[i][g.beta_index(i, j)], i) for i in g.in_edges[j]))
    path = [g.last]
    while path[-1] != 0:
        path.append(best[path[-1]][1])
    return path[::-1]


def derive_arch(net: Supernet, variant: str | None = None, notes: dict | None = None) -> SeatArch:
    g, space, base = net.graph, net.space, net.base
    path = viterbi_path(net)
    blocks = []
    for prev, j in zip(path[:-2], path[1:-1]):
        head = space.head_ops[int(net.alpha_head[f"{prev}_{j}"].argmax())]
        stack = [space.stack_ops[int(row.argmax())] for row in net.alpha_stack[j - 1]]
        blocks.append(
            {
                "in_channels": g.channels[prev],
                "out_channels": g.channels[j],
                "head_op": head,
                "stack_ops": [op for op in stack if op != SKIP],
            }
        )
    d = base.to_dict()
    d.update(
        variant=variant or f"{base.variant}-searched",
        blocks=blocks,
        collector=[g.channels[path[-2]], g.channels[g.last]],
        notes={"derived_from": base.variant, "path": path, **(notes or {})},
    )
    return arch_from_dict(d, "derived architecture")
