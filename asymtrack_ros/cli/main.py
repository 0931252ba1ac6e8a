"""``asymtrack`` command line: export, track, bench."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..families.registry import FAMILIES, by_name, names
from ..search.cli import add_search_command
from ..training.commands import add_commands

SEAT_VARIANTS = by_name("seat").variants
ALL_VARIANTS = [v for f in FAMILIES for v in f.variants]
EXPORT_OPTIONS = ("int8", "npu_friendly")  # export's flags, each taken by the families that list it


def _box(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h numbers, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 values x,y,w,h, got {len(values)}")
    return values


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="exported model directory or checkpoint file (default: the shipped weights)")
    p.add_argument("--family", choices=names(), help="with no --model: the weights shipped for this family")
    p.add_argument("--variant", choices=ALL_VARIANTS, help="default: what the checkpoint records")
    p.add_argument("--engine", default="auto", choices=("auto", "torch", "onnxruntime"))
    p.add_argument("--providers", default="tensorrt,cuda,cpu", help="onnxruntime providers, in order")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--fp16", action="store_true")
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "int8"),
        help="checkpoints: auto is int8 on a CPU where shipping verified it, else fp32",
    )
    p.add_argument("--trt-cache", help="TensorRT engine cache directory")


def cmd_export(args: argparse.Namespace) -> int:
    from ..deploy.export import max_abs_diff
    from ..engines.onnx_engine import OnnxEngine
    from ..engines.torch_engine import TorchEngine
    from ..families.registry import of_checkpoint

    family = of_checkpoint(args.checkpoint)
    options = {name: True for name in EXPORT_OPTIONS if getattr(args, name)}
    for name in options:
        if name not in family.export_options:
            takers = " and ".join(f.title for f in FAMILIES if name in f.export_options)
            raise ValueError(f"--{name.replace('_', '-')} applies to {takers} checkpoints")
    net = family.load(Path(args.checkpoint), args.variant)
    out = family.export(net, args.out, fp16=args.fp16, **options)
    spec = family.spec(net)
    inputs = {k: v.numpy() for k, v in family.example_inputs(net, 1).items()}  # not the traced ones

    def outputs(engine) -> dict:
        cache = engine.encode_template({k: inputs[k] for k in spec.template_inputs})
        return engine.track({k: inputs[k] for k in spec.search_inputs}, cache)

    diff = max_abs_diff(outputs(TorchEngine(net, spec)), outputs(OnnxEngine(out, providers=["cpu"])))
    form = "".join(f"{family.export_options[name]} " for name in options)
    print(f"exported {form}{family.title}-{spec.variant} to {out} (onnxruntime CPU vs torch: max |diff| {diff:.2e})")
    if family.export_report is not None:
        print(family.export_report(out))
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from ..engines.factory import create_tracker, load_engine
    from ..files.sequences import groundtruth_of, open_frames, read_boxes, write_boxes
    from ..tracking.draw import draw_track
    from ..tracking.run import run_sequence
    from ..tracking.tracker import TrackerParams

    source = open_frames(args.input)
    init = args.init
    if init is None:
        gt = groundtruth_of(args.input)
        if gt is None:
            raise SystemExit("--init x,y,w,h is required (no groundtruth_rect.txt beside the frames)")
        init = tuple(read_boxes(gt)[0])
    engine = load_engine(
        args.model,
        args.engine,
        args.variant,
        args.providers.split(","),
        args.device,
        args.fp16,
        trt_cache_dir=args.trt_cache,
        family=args.family,
        precision=args.precision,
    )
    tracker = create_tracker(engine, TrackerParams(bgr_input=True))
    writer = None

    def on_frame(frame, result) -> None:
        nonlocal writer
        if args.out_video is None:
            return
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(args.out_video), cv2.VideoWriter_fourcc(*"mp4v"), source.fps, (w, h))
        writer.write(draw_track(frame, result.box, result.state, result.score))

    run = run_sequence(tracker, source, init, total=source.count, on_frame=on_frame)
    if writer is not None:
        writer.release()
    if args.out_boxes:
        write_boxes(args.out_boxes, np.asarray(run.boxes))
    if run.update_s:
        ms = 1000 * float(np.median(run.update_s))
        print(f"{len(run.boxes)} frames, median tracker time {ms:.1f} ms ({engine.name} {engine.provider})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..benchmarks.engines import format_report, run_bench

    if args.seat_arch and not args.all:
        raise SystemExit("asymtrack bench: --seat-arch goes with --all")
    if args.ros:  # the tracker node end to end over DDS; needs the ROS environment
        from ..benchmarks.node_latency import main as ros_bench

        extra = ["--model", args.model] if args.model else []
        return ros_bench([*extra, "--frames", str(args.frames), "--threads", str(args.threads or 1)])
    if args.all or args.variant in SEAT_VARIANTS:
        from ..benchmarks.side_by_side import format_table, run_table
        from ..models.seat.arch import load_arch

        name = f"seat-{args.variant}"
        ckpts = {name: args.model} if args.model else None
        archs = {f"seat-{a.variant}": a for a in map(load_arch, args.seat_arch)}
        report = run_table(args.frames, None if args.all else [name], ckpts, args.threads, args.peers, archs)
        print(format_table(report))
    else:
        from ..benchmarks.overhead import format_overhead, run_overhead

        report = run_bench(args.variant, frames=args.frames, checkpoint=args.model)
        print(format_report(report))
        if args.variant == "tiny":  # the shipped model, as the tracker node runs it on a CPU
            report["overhead"] = run_overhead(args.model, frames=args.frames, threads=args.threads or 1)
            print("\n" + format_overhead(report["overhead"]))
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from ..evaluation.datasets import load_dataset
    from ..evaluation.report import summarize, write_report
    from ..evaluation.runner import VERSIONS_FILE, run_all, score_results
    from ..evaluation.trackers import tracker_params
    from ..files.resources import parse_assignment

    out = Path(args.out)
    params = dict(parse_assignment(item) for item in args.tracker_param)
    tracker_params(params)  # refused here, before any run
    sequences = [s for spec in args.dataset for s in load_dataset(spec)]
    results = out / "results"
    if not args.rescore:
        run_all(args.tracker, sequences, results, args.workers, params, args.interleave)
    recorded = results / VERSIONS_FILE
    versions = json.loads(recorded.read_text()) if recorded.is_file() else None
    print(write_report(summarize(score_results(results, sequences)), out, versions))
    print(f"report: {out / 'report.md'}, {out / 'report.json'}, {out / 'success.png'}, {out / 'precision.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asymtrack", description="AsymTrack tracking tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="export a checkpoint to template.onnx, search.onnx, model.json")
    p.add_argument("checkpoint")
    p.add_argument("--variant", choices=ALL_VARIANTS)
    p.add_argument("--out", required=True)
    p.add_argument("--fp16", action="store_true", help="fp16 weights and maths inside, fp32 inputs/outputs")
    p.add_argument(
        "--int8", action="store_true", help="int8 search graph for onnxruntime on CPUs (weight products, corner head)"
    )
    p.add_argument(
        "--npu-friendly", action="store_true", help="SEAT: fixed sizes, no RoiAlign/MatMul/GroupNorm/Softmax nodes"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("track", help="track one object through a video or an image folder")
    p.add_argument("input", help="video file or OTB-style folder (img/*.jpg)")
    p.add_argument("--init", type=_box, help="x,y,w,h on the first frame (default: groundtruth_rect.txt)")
    p.add_argument("--out-video", type=Path)
    p.add_argument("--out-boxes", type=Path)
    _add_engine_args(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("eval", help="accuracy and speed of trackers on annotated sequences")
    p.add_argument(
        "--dataset",
        action="append",
        required=True,
        help="KIND:PATH with KIND otb, got10k, lasot, uav123, vot; or video:PATH@x,y,w,h (repeatable)",
    )
    p.add_argument(
        "--tracker",
        action="append",
        required=True,
        help="asymtrack[:MODEL[:ENGINE[:PRECISION]]], seat[:MODEL[:ENGINE]], csrt, kcf, mil, "
        "nano:BACKBONE,NECKHEAD, vit:NET, lightfc:FOLDER (repeatable)",
    )
    p.add_argument("--out", required=True, help="report folder; results/<tracker>/<seq>.txt inside")
    p.add_argument("--workers", type=int, default=1, help="parallel runs (per-frame times then share cores)")
    p.add_argument("--rescore", action="store_true", help="score the saved results without running")
    p.add_argument(
        "--interleave",
        action="store_true",
        help="the trackers take each sequence frame by frame in turn, so their times meet the same host state "
        "(compare speeds this way on a shared machine; FPS then counts the trackers' own time)",
    )
    p.add_argument(
        "--tracker-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter of this package's trackers (TrackerParams name; repeatable)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="latency of the search step, cached vs recomputed template")
    p.add_argument("--variant", default="tiny", choices=ALL_VARIANTS)
    p.add_argument("--model", help="checkpoint (default: random weights; latency does not depend on them)")
    p.add_argument("--all", action="store_true", help="SEAT-lt/al beside AsymTrack-T/S/B on onnxruntime, interleaved")
    p.add_argument(
        "--peers", type=Path, help="with --all: also the NanoTrack v2, VitTrack, LightFC W8A8 ONNX files here"
    )
    p.add_argument(
        "--seat-arch",
        type=Path,
        action="append",
        default=[],
        help="with --all: also this SEAT architecture description (a searched one; repeatable)",
    )
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads for --all / SEAT (0: one per core)")
    p.add_argument(
        "--ros",
        action="store_true",
        help="tracker node latency over DDS (image publish -> TrackedObject) against the engine time",
    )
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--json", type=Path)
    p.set_defaults(func=cmd_bench)
    add_commands(sub)
    add_search_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"asymtrack {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
