"""``asymtrack search``: the SEAT architecture search from the command line."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..files.resources import parse_assignment


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _source(text: str) -> dict:
    """``procedural``, ``synthetic`` or ``TYPE:ROOT`` (got10k, lasot, trackingnet, coco, otb), then
    optional ``,KEY=VALUE`` reader options: ``otb:train,exclude=val.txt`` holds a split out.
    """
    head, *options = text.split(",")
    kind, _, root = head.partition(":")
    spec = {"type": kind, **({"root": root} if root else {})}
    for option in options:
        try:
            key, value = parse_assignment(option)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"data source option: {err} (expected KEY=VALUE)") from None
        spec[key] = value
    return spec


def cmd_search(args: argparse.Namespace) -> int:
    from ..models.seat.arch import CANDIDATE_OPS, SKIP
    from .run import SearchConfig, run_search, setup_distributed
    from .space import SearchSpace

    ops = tuple(args.ops.split(",")) if args.ops else CANDIDATE_OPS
    space = SearchSpace(
        widths=args.widths, stack_layers=args.stack_layers, head_ops=ops, stack_ops=ops + (SKIP,), connect=args.connect
    )
    cfg = SearchConfig(
        base=args.base,
        out=str(args.out),
        space=space,
        data=args.data or [_source("procedural")],
        epochs=args.epochs,
        arch_epoch=args.arch_epoch,
        samples_per_epoch=args.samples,
        batch_size=args.batch,
        workers=args.workers,
        lr=args.lr,
        warmup_epochs=min(args.warmup, args.epochs),
        alpha_lr=args.arch_lr,
        beta_lr=args.arch_lr,
        latency_factor=args.latency_factor,
        latency_backend=args.latency_backend,
        lut=str(args.lut) if args.lut else None,
        lut_repeats=args.lut_repeats,
        lut_table=args.lut_table,
        init=args.init,
        freeze_backbone=not args.train_backbone,
        device=setup_distributed(args.device),
        seed=args.seed,
    )
    arch = run_search(cfg)
    summary = {"out": cfg.out, "blocks": [b.__dict__ for b in arch.blocks], "collector": arch.collector}
    for key in ("expected_latency_ms", "latency_ms", "base_latency_ms"):  # the table's: supernet, found, base
        summary[key] = arch.notes["search"][key]
    summary["lut_table"] = arch.notes["search"]["lut_table"]
    print(json.dumps(summary, indent=1))
    return 0


def add_search_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="SEAT: latency-aware search of the fusion blocks (writes an architecture .json)")
    p.add_argument("--base", default="lt", help="lt, al or an architecture .json (backbone, CFM, head, sizes)")
    p.add_argument("--out", type=Path, required=True, help="derived architecture .json")
    p.add_argument("--widths", type=_ints, default=(256, 320, 384), help="harmonization block widths")
    p.add_argument("--stack-layers", type=int, default=3)
    p.add_argument("--connect", type=int, default=4, help="each node feeds up to this many following nodes")
    p.add_argument("--ops", help="candidate ops, comma-separated (default: the 12 Wave-MLP ops)")
    p.add_argument(
        "--data", action="append", type=_source, help="procedural, synthetic or TYPE:ROOT[,KEY=VALUE...] (repeatable)"
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--arch-epoch", type=int, default=15, help="weights only before this epoch")
    p.add_argument("--samples", type=int, default=20000, help="pairs per epoch (10 %% for architecture steps)")
    p.add_argument("--batch", type=int, default=16, help="per process")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--warmup", type=int, default=5, help="lr warm-up epochs")
    p.add_argument(
        "--arch-lr",
        type=float,
        default=1e-4,
        help="Adam lr of the architecture weights; a short search needs more than the default to move them",
    )
    p.add_argument(
        "--latency-factor", type=float, default=0.15, help="weight of log(expected latency) in the architecture loss"
    )
    p.add_argument("--latency-backend", default="onnxruntime", choices=("onnxruntime", "torch"))
    p.add_argument("--lut", type=Path, default=Path("seat_latency_lut.json"), help="latency table cache file")
    p.add_argument("--lut-repeats", type=int, default=20)
    p.add_argument("--lut-table", help="use this table of --lut (measured on the target device) instead of measuring")
    p.add_argument("--init", help="SEAT checkpoint to start backbone / neck / CFM / head from")
    p.add_argument("--train-backbone", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_search)
    logging.getLogger("asymtrack_ros.search").setLevel(logging.INFO)
