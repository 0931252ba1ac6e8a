"""``asymtrack train``, ``asymtrack synth fetch|preview``, ``asymtrack cache build|bench``,
``asymtrack curve`` and ``asymtrack ship``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# Explicit flags and the config keys they set (everything else: --set key=value).
FLAGS = {
    "variant": "variant",
    "device": "device",
    "batch_size": "optim.batch_size",
    "epochs": "optim.epochs",
    "lr": "optim.lr",
    "max_iters": "optim.max_iters",
    "samples_per_epoch": "data.samples_per_epoch",
    "workers": "data.num_workers",
}


def cmd_train(args: argparse.Namespace) -> int:
    from ..models.safe_pickle import read_checkpoint
    from .config import load_config
    from .trainer import train

    overrides = list(args.set)
    overrides += [f"{key}={getattr(args, flag)}" for flag, key in FLAGS.items() if getattr(args, flag) is not None]
    saved = None
    if args.config is None:
        if not args.resume:
            raise ValueError("--config is required (unless --resume, which reuses the checkpoint's config)")
        saved = read_checkpoint(args.resume).get("settings", {}).get("config")
    cfg = load_config(args.config, overrides, base=saved)
    out = Path(args.out)
    if not args.resume and (out / "log.jsonl").is_file():
        raise ValueError(f"{out}: holds a training run already; pass --resume or another --out")
    latest = train(cfg, out, resume=args.resume, init=args.init_from)
    if latest is not None:
        print(f"last checkpoint: {latest}")
    return 0


def cmd_synth_fetch(args: argparse.Namespace) -> int:
    from ..sampling.assets import fetch

    out = fetch(args.cache, keep_packages=args.keep_packages)
    index = json.loads((out / "index.json").read_text())
    print(f"{out}: {len(index['backgrounds'])} backgrounds, {len(index['objects'])} objects")
    return 0


def cmd_synth_preview(args: argparse.Namespace) -> int:
    """A contact sheet of training pairs (template | search with the target box) and the
    data rate on one core.
    """
    import cv2
    import numpy as np

    from ..models.asymtrack_variants import get_variant
    from ..sampling.pairs import Augment, PairDataset
    from ..sampling.synthetic import SyntheticSource
    from .chase import ChaseSource

    if args.chase:
        source, origin = ChaseSource(seed=args.seed), "chase scenes"
    else:
        source = SyntheticSource(
            assets=args.cache,
            procedural=True if args.procedural else None,
            photo_objects=args.photo_objects,
            photo_fraction=args.photo_fraction,
        )
        origin = source.bank.origin
    data = PairDataset([source], [1.0], get_variant(args.variant), Augment(), seed=args.seed, length=args.pairs)
    start = time.perf_counter()
    items = [data[i] for i in range(args.pairs)]
    rate = args.pairs / (time.perf_counter() - start)
    print(f"{rate:.1f} pairs/s on one core ({origin})")
    if args.out:
        tiles = []
        for it in items[:24]:
            search = it["search"].copy()
            s = search.shape[0]
            cx, cy, w, h = (float(v) * s for v in it["box"])
            cv2.rectangle(search, (int(cx - w / 2), int(cy - h / 2)), (int(cx + w / 2), int(cy + h / 2)), (255, 0, 0))
            column = np.zeros((s, it["template"].shape[1], 3), np.uint8)
            column[: it["template"].shape[0]] = it["template"]
            tiles.append(np.hstack([column, search]))
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 4)
        sheet = np.vstack([np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)])
        cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"wrote {args.out}")
    return 0


def cmd_cache_build(args: argparse.Namespace) -> int:
    from .pair_cache import build_cache

    for line in build_cache(args.root, args.out, args.factor, args.max_side, args.quality, args.workers):
        print(line, flush=True)
    return 0


def cmd_cache_bench(args: argparse.Namespace) -> int:
    from .pair_cache import bench

    print(json.dumps(bench(args.root, args.cache, args.exclude or (), args.pairs, args.rounds), indent=2))
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from ..evaluation.curve import learning_curves, plot_curves
    from ..evaluation.datasets import first_frames, load_dataset

    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            raise ValueError(f"--run needs NAME=RUN_FOLDER with an existing folder, got {item!r}")
        runs[name] = Path(folder)
    sequences = [s for spec in args.dataset for s in load_dataset(spec)]
    if args.first_frames:
        sequences = [first_frames(s, args.first_frames) for s in sequences]
    curves = learning_curves(runs, sequences, Path(args.out), args.start, args.engine, args.workers)
    for name, points in curves.items():
        print(f"{name}: " + ", ".join(f"{pairs} pairs {auc:.3f}" for pairs, auc in points))
    if args.plot:
        span = f", first {args.first_frames} frames" if args.first_frames else ""
        plot_curves(curves, args.plot, f"success AUC over {len(sequences)} validation sequences{span}")
        print(f"wrote {args.plot}")
    return 0


def cmd_ship(args: argparse.Namespace) -> int:
    from ..files.resources import parse_assignment
    from .ship import ship

    # values read as YAML: search sizes stay integers, and arch_from_dict checks each type
    if args.int8_only:
        if len(args.checkpoints) != 1 or not args.int8_dataset:
            raise ValueError("--int8-only takes one shipped file and at least one --int8-dataset")
        shipped = Path(args.checkpoints[0])
    else:
        if args.out is None:
            raise ValueError("--out is required (the shipped file)")
        tracker = dict(parse_assignment(item) for item in args.tracker)
        report = ship(args.checkpoints, args.out, args.variant, allow_fp16=not args.fp32, tracker=tracker)
        print(json.dumps(report, indent=2))
        shipped = Path(args.out)
    if args.int8_dataset:
        from .int8_check import check_int8

        print(json.dumps(check_int8(shipped, args.int8_dataset), indent=2))
    return 0


def cmd_slim(args: argparse.Namespace) -> int:
    from .slim import slim_checkpoint

    report = slim_checkpoint(args.checkpoint, args.widths, args.config, args.out, args.pairs, args.seed)
    print(json.dumps(report, indent=2))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from ..models.asymtrack_variants import VARIANTS

    p = sub.add_parser("train", help="train AsymTrack (config/train_<variant>.yaml)")
    p.add_argument("--config", type=Path, help="training config YAML")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", required=True, help="run folder: log, plot, checkpoints")
    p.add_argument("--resume", help="continue from a checkpoint of this trainer (optimizer, schedule, RNG)")
    p.add_argument(
        "--init-from",
        help="start from the weights of an official checkpoint or of a deploy-form file (the shipped one): fine-tuning",
    )
    p.add_argument("--variant", choices=sorted(VARIANTS))
    p.add_argument("--device")
    p.add_argument("--batch-size", type=int, help="per process")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--max-iters", type=int, help="stop after this many iterations (checkpointed)")
    p.add_argument("--samples-per-epoch", type=int)
    p.add_argument("--workers", type=int, help="data loader processes")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("synth", help="synthetic training sequences: fetch assets, preview")
    synth = p.add_subparsers(dest="synth_command", required=True)
    q = synth.add_parser("fetch", help="download photographs and cut-outs (Debian packages) into the cache")
    q.add_argument("--cache", help="asset folder (default: ~/.cache/asymtrack_ros/synth)")
    q.add_argument("--keep-packages", action="store_true", help="keep the .deb files and their unpacked trees")
    q.set_defaults(func=cmd_synth_fetch)
    q = synth.add_parser("preview", help="render pairs: data rate and a contact sheet")
    q.add_argument("--cache", help="asset folder (default: ~/.cache/asymtrack_ros/synth)")
    q.add_argument("--procedural", action="store_true", help="procedural shapes, ignore fetched assets")
    q.add_argument("--chase", action="store_true", help="chase scenes (simulated vehicles) instead")
    q.add_argument("--variant", default="tiny", choices=sorted(VARIANTS))
    q.add_argument("--pairs", type=int, default=200)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--photo-objects", type=int, default=0, help="targets cut from the photographs")
    q.add_argument("--photo-fraction", type=float, default=0.5, help="share of targets drawn from those")
    q.add_argument("--out", type=Path, help="contact sheet PNG")
    q.set_defaults(func=cmd_synth_preview)

    from .pair_cache import CONTEXT_FACTOR, MAX_SIDE

    p = sub.add_parser("cache", help="pair cache: crops cut once around the targets of OTB-style sequences")
    cache = p.add_subparsers(dest="cache_command", required=True)
    q = cache.add_parser("build", help="cut the crops (re-runnable: complete sequences are skipped)")
    q.add_argument("root", help="OTB-style sequences (<seq>/img, groundtruth_rect.txt)")
    q.add_argument("--out", required=True, help="cache folder (outside the repository)")
    q.add_argument("--factor", type=float, default=CONTEXT_FACTOR, help="crop side / sqrt(w*h)")
    q.add_argument("--max-side", type=int, default=MAX_SIDE, help="larger crops are stored at this size")
    q.add_argument("--quality", type=int, default=95, help="JPEG quality")
    q.add_argument("--workers", type=int, default=1, help="processes")
    q.set_defaults(func=cmd_cache_build)
    q = cache.add_parser("bench", help="training pairs/s from the frames and from the cache, in one run")
    q.add_argument("root", help="the OTB-style sequences the cache was cut from")
    q.add_argument("cache", help="the cache folder")
    q.add_argument("--exclude", help="file of sequence names held out (a validation split)")
    q.add_argument("--pairs", type=int, default=100, help="pairs per round and source")
    q.add_argument("--rounds", type=int, default=3)
    q.set_defaults(func=cmd_cache_bench)

    p = sub.add_parser(
        "curve", help="learning curves: validation AUC of each run's epoch checkpoints against pairs seen"
    )
    p.add_argument(
        "--run", action="append", required=True, metavar="NAME=RUN_FOLDER", help="a training run (repeatable)"
    )
    p.add_argument(
        "--dataset", action="append", required=True, help="validation sequences, as asymtrack eval takes them"
    )
    p.add_argument("--start", type=Path, help="the file every run started from: the point at 0 pairs")
    p.add_argument("--out", required=True, help="folder of the points' results (kept: points are not run again)")
    p.add_argument("--plot", type=Path, help="PNG of the curves")
    p.add_argument("--first-frames", type=int, help="score each sequence's first N frames only (cheaper)")
    p.add_argument("--engine", default="torch", help="engine of the checkpoints' tracker")
    p.add_argument("--workers", type=int, default=1, help="parallel sequence runs")
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("ship", help="training checkpoint -> deploy-form weights file (fp16 when at parity)")
    p.add_argument("checkpoints", nargs="+", help="one, or several of one run to average (training form)")
    p.add_argument("--out", help="e.g. asymtrack_ros/data/asymtrack_tiny.pth")
    p.add_argument("--variant", choices=sorted(VARIANTS))
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    p.add_argument(
        "--tracker",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="SEAT: set a tracker hyper-parameter of the file's arch.tracker, e.g. window_influence=0.3 (repeatable)",
    )
    p.add_argument(
        "--int8-dataset",
        action="append",
        default=[],
        metavar="SPEC",
        help="AsymTrack: track this validation data (eval --dataset spec; repeatable) with the int8 and fp32 "
        "graphs and record beside the file whether int8 becomes its CPU default",
    )
    p.add_argument("--int8-only", action="store_true", help="the one checkpoint is a shipped file: only the int8 check")
    p.set_defaults(func=cmd_ship)

    p = sub.add_parser(
        "slim", help="AsymTrack file -> the same with its expanded blocks cut to fewer hidden units, refit on crops"
    )
    p.add_argument("checkpoint", help="e.g. asymtrack_ros/data/asymtrack_tiny.pth")
    p.add_argument("--widths", required=True, help="hidden units per expanded block in network order, e.g. 64,128")
    p.add_argument("--config", required=True, type=Path, help="training config whose data gives the crops")
    p.add_argument("--pairs", type=int, default=256, help="crops the refit uses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the slimmed checkpoint (fp32 deploy form; then asymtrack ship)")
    p.set_defaults(func=cmd_slim)
