"""The SEAT supernet with the width-decoupling relaxation.

beta (per source node, softmax over its outgoing edges) weighs the edges into every block
and into the collector: it chooses width and path. alpha (per mixed op, softmax over the
candidates) chooses the operation. Ops are sampled ProxylessNAS-style: ``sample(1)``
before a weight step (one path, plain training), ``sample(2)`` before an architecture step
(the two sampled alphas get gradients through their softmax), then ``rescale`` keeps the
unsampled candidates' probabilities where they were.

The expected latency of the sampled network is composed from a look-up table through the
same weights, backwards from the collector: cost(i) = sum_j beta_ij (head_ij + stack_j + cost(j)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.seat.arch import SeatArch
from ..models.seat.backbones import build_backbone
from ..models.seat.net import CFM, Collector, Head, Neck
from ..models.seat.ops import build_op
from .space import Graph, SearchSpace, build_graph


class MixedOp(nn.Module):
    def __init__(self, names: tuple[str, ...], c_in: int, c_out: int) -> None:
        super().__init__()
        self.names = names
        self.ops = nn.ModuleList(build_op(n, c_in, c_out, affine=False) for n in names)

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(alpha[index], dim=-1)
        return sum(w * self.ops[int(i)](x) for w, i in zip(weights, index))


def _edge(i: int, j: int) -> str:
    return f"{i}_{j}"


class Supernet(nn.Module):
    def __init__(self, base: SeatArch, space: SearchSpace) -> None:
        super().__init__()
        self.base, self.space = base, space
        self.graph: Graph = build_graph(space, base.cfm_out, base.head_channels)
        g = self.graph
        self.backbone = build_backbone(base.backbone)
        self.neck = Neck(*base.neck)
        self.match = CFM(base)
        self.heads = nn.ModuleDict(
            {
                _edge(i, j): MixedOp(space.head_ops, g.channels[i], g.channels[j])
                for j in self.blocks
                for i in g.in_edges[j]
            }
        )
        self.stacks = nn.ModuleList(
            nn.ModuleList(MixedOp(space.stack_ops, g.channels[j], g.channels[j]) for _ in range(space.stack_layers))
            for j in self.blocks
        )
        self.collector = nn.ModuleDict(
            {str(i): Collector(g.channels[i], g.channels[g.last]) for i in g.in_edges[g.last]}
        )
        self.prediction = Head(base.head_channels, base.head_tower, base.head_groups)
        self.betas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(len(o))) for o in g.out_edges[: g.last])
        self.alpha_head = nn.ParameterDict(
            {k: nn.Parameter(1e-3 * torch.randn(len(space.head_ops))) for k in self.heads}
        )
        self.alpha_stack = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(space.stack_layers, len(space.stack_ops))) for _ in self.blocks
        )
        self.sample(len(space.stack_ops))

    @property
    def blocks(self) -> range:
        return range(1, self.graph.last)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.betas, *self.alpha_head.values(), *self.alpha_stack]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def sample(self, k: int, generator: torch.Generator | None = None) -> None:
        """Draw ``k`` candidates per mixed op by their probabilities (all when k covers them)."""

        def draw(alpha: torch.Tensor) -> torch.Tensor:
            if k >= alpha.shape[-1]:
                return torch.arange(alpha.shape[-1])
            probs = F.softmax(alpha.detach().float().cpu(), dim=-1)
            return torch.multinomial(probs, k, replacement=False, generator=generator).sort().values

        self.head_index = {key: draw(a) for key, a in self.alpha_head.items()}
        self.stack_index = [[draw(row) for row in a] for a in self.alpha_stack]

    @torch.no_grad()
    def snapshot(self) -> dict[str, list[torch.Tensor]]:
        """The sampled alphas before an architecture step (for ``rescale``)."""
        heads = [a[self.head_index[k]].clone() for k, a in self.alpha_head.items()]
        stacks = [row[idx].clone() for a, rows in zip(self.alpha_stack, self.stack_index) for row, idx in zip(a, rows)]
        return {"head": heads, "stack": stacks}

    @torch.no_grad()
    def rescale(self, before: dict[str, list[torch.Tensor]]) -> None:
        """Shift the updated sampled alphas so that their summed exp is unchanged: the
        update only moves probability among the sampled candidates.
        """
        pairs = [(a, self.head_index[k]) for k, a in self.alpha_head.items()]
        pairs += [(row, idx) for a, rows in zip(self.alpha_stack, self.stack_index) for row, idx in zip(a, rows)]
        for (alpha, idx), old in zip(pairs, before["head"] + before["stack"]):
            alpha[idx] += torch.logsumexp(old, 0) - torch.logsumexp(alpha[idx], 0)

    def forward(
        self, template: torch.Tensor, search: torch.Tensor, template_box: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cache = self.match.encode(self.neck(self.backbone(template)), template_box)
        feats = {0: self.match(self.neck(self.backbone(search)), cache)}
        g = self.graph
        beta = [F.softmax(b, dim=-1) for b in self.betas]
        for n, j in enumerate(self.blocks):
            x = sum(
                beta[i][g.beta_index(i, j)] * self.heads[_edge(i, j)](feats[i], self.alpha_head[_edge(i, j)],
                                                                       self.head_index[_edge(i, j)])
                for i in g.in_edges[j]
            )  # fmt: skip
            for layer, alpha, index in zip(self.stacks[n], self.alpha_stack[n], self.stack_index[n]):
                x = layer(x, alpha, index)
            feats[j] = x
        y = sum(beta[i][g.beta_index(i, g.last)] * self.collector[str(i)](feats[i]) for i in g.in_edges[g.last])
        return self.prediction(y)

    def expected_latency(self, lut: dict[str, float]) -> torch.Tensor:
        """Expected per-frame latency (ms) of the sampled network; ``lut`` from ``latency``."""
        from .latency import collector_key, op_key, static_key

        g, res = self.graph, self.base.search_feat()
        beta = [F.softmax(b, dim=-1) for b in self.betas]

        def mixed(names, alpha, index, c_in, c_out):
            w = F.softmax(alpha[index], dim=-1)
            costs = torch.tensor([lut[op_key(names[int(i)], c_in, c_out, res)] for i in index], dtype=w.dtype)
            return (w * costs.to(w.device)).sum()

        cost: dict[int, torch.Tensor] = {g.last: torch.zeros(())}
        for j in reversed(range(g.last)):
            terms = []
            for dst in g.out_edges[j]:
                if dst == g.last:
                    edge = torch.tensor(lut[collector_key(g.channels[j], g.channels[dst], res)])
                else:
                    key = _edge(j, dst)
                    edge = mixed(self.space.head_ops, self.alpha_head[key], self.head_index[key], g.channels[j],
                                 g.channels[dst])  # fmt: skip
                    n = dst - 1
                    for alpha, index in zip(self.alpha_stack[n], self.stack_index[n]):
                        edge = edge + mixed(self.space.stack_ops, alpha, index, g.channels[dst], g.channels[dst])
                terms.append(beta[j][g.beta_index(j, dst)] * (edge + cost[dst].to(edge.device)))
            cost[j] = sum(terms)
        return cost[0] + lut[static_key(self.base)]
