"""The fusion search space: CFM output -> harmonization blocks (one width each), densely
connected -> collector. Node 0 is the CFM output, nodes 1..K the blocks, node K+1 the
collector; node i feeds up to ``connect`` following nodes, never skipping a stage
(CFM -> blocks -> collector).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.seat.arch import CANDIDATE_OPS, SKIP, ArchError, parse_op


@dataclass(frozen=True)
class SearchSpace:
    widths: tuple[int, ...] = (256, 320, 384)  # harmonization blocks H1..HK
    stack_layers: int = 3  # mixed ops stacked after each block's head layer (skip = shallower)
    head_ops: tuple[str, ...] = CANDIDATE_OPS
    stack_ops: tuple[str, ...] = CANDIDATE_OPS + (SKIP,)
    connect: int = 4

    def __post_init__(self) -> None:
        if not self.widths or any(w < 8 or w % 4 for w in self.widths):
            raise ArchError(f"search space: block widths must be multiples of 4 and >= 8, got {self.widths}")
        if self.stack_layers < 0 or self.connect < 1:
            raise ArchError("search space: stack_layers >= 0 and connect >= 1 required")
        if not self.head_ops or not self.stack_ops:
            raise ArchError("search space: empty candidate list")
        for name in self.head_ops:
            parse_op(name)
        for name in self.stack_ops:
            if name != SKIP:
                parse_op(name)


@dataclass(frozen=True)
class Graph:
    channels: tuple[int, ...]  # per node
    out_edges: tuple[tuple[int, ...], ...]  # per node: the nodes it feeds (beta index order)
    in_edges: tuple[tuple[int, ...], ...]  # per node: the nodes feeding it

    @property
    def last(self) -> int:
        return len(self.channels) - 1

    def beta_index(self, src: int, dst: int) -> int:
        return self.out_edges[src].index(dst)


def build_graph(space: SearchSpace, in_channels: int, out_channels: int) -> Graph:
    channels = (in_channels, *space.widths, out_channels)
    last = len(channels) - 1
    stage = [0] + [1] * len(space.widths) + [2]
    out_edges: list[tuple[int, ...]] = []
    for i in range(last):
        targets = [j for j in range(i + 1, min(last, i + space.connect) + 1) if stage[j] - stage[i] <= 1]
        out_edges.append(tuple(targets))
    out_edges.append(())
    in_edges = tuple(tuple(i for i in range(j) if j in out_edges[i]) for j in range(last + 1))
    for j in range(1, last + 1):
        if not in_edges[j]:
            raise ArchError(f"search space: node {j} has no input (connect={space.connect})")
    return Graph(channels, tuple(out_edges), in_edges)
