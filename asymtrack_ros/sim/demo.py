"""Headless closed-loop demo: simulated UAV with a gimbal follows a van.

    python -m asymtrack_ros.sim.demo [--oracle] [--duration 60] [--out demo_output]

The simulator core, the tracker and the follow controller core run in one process in
lockstep (the same maths as uav_sim_node, tracker_node and follow_controller_node), so a
run is deterministic. The tracker starts from the ground-truth box of the first frame,
as an operator's selection would; --oracle feeds the ground truth instead of the
tracker, to check the controller and simulator alone. Writes follow.mp4 (annotated
camera view) and follow.png (errors, distance, commands over time) and prints the
summary figures.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2

from ..control.follow import FollowController
from ..control.params import FollowParams, ParamError, load_params
from ..files.resources import SHIPPED_MODELS, config_file, default_model_path, parse_assignment, read_node_params
from ..tracking.node_config import from_params
from ..tracking.tracker import TrackerParams
from .loop import run_loop, summarize
from .render import CameraSpec
from .report import annotate, plot, summary_text
from .world import Simulator


def controller_params(extra: dict | None = None) -> FollowParams:
    """config/follow_controller.yaml, overlaid by config/sim_follow.yaml's controller section."""
    values = read_node_params(config_file("follow_controller.yaml"), "follow_controller_node")
    values.update(read_node_params(config_file("sim_follow.yaml"), "follow_controller_node"))
    values.update(extra or {})
    return load_params(values)


def tracker_params(extra: dict | None = None) -> TrackerParams:
    """config/tracker.yaml's tracker section (what sim_follow.launch.py gives the tracker
    node), overlaid by ``extra``; frames stay BGR.
    """
    values = read_node_params(config_file("tracker.yaml"), "tracker_node")
    values.update(extra or {})
    return from_params(values, families=None).tracker_params()


def sim_settings() -> dict:
    return read_node_params(config_file("sim_follow.yaml"), "uav_sim_node")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m asymtrack_ros.sim.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle", action="store_true", help="feed the ground-truth box instead of the tracker's")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default: the scenario's)")
    ap.add_argument("--seed", type=int, default=None, help="scenario textures seed (default: config)")
    ap.add_argument("--model", type=Path, default=None, help="tracker checkpoint or exported model directory")
    ap.add_argument(
        "--family", choices=tuple(SHIPPED_MODELS), default=None, help="with no --model: that family's shipped weights"
    )
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    ap.add_argument(
        "--tracker-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a tracker parameter of config/tracker.yaml (repeatable)",
    )
    ap.add_argument("--out", type=Path, default=Path("demo_output"))
    ap.add_argument("--no-video", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        params = controller_params()
    except ParamError as err:
        print(f"demo: bad controller parameters: {err}", file=sys.stderr)
        return 2
    try:
        tracking = tracker_params(dict(parse_assignment(item) for item in args.tracker_param))
    except ValueError as err:
        print(f"demo: bad tracker parameters: {err}", file=sys.stderr)
        return 2
    cfg = sim_settings()
    fps = float(cfg.get("fps", 30.0))
    camera = CameraSpec(int(cfg.get("width", 640)), int(cfg.get("height", 480)), float(cfg.get("hfov_deg", 70.0)))
    seed = args.seed if args.seed is not None else int(cfg.get("seed", 0))
    sim = Simulator(camera=camera, seed=seed)
    duration = args.duration if args.duration is not None else sim.scenario.duration

    tracker, model_note = None, "ground truth (oracle)"
    if not args.oracle:
        from ..engines.factory import create_tracker, load_engine

        model = args.model or default_model_path(args.family)
        tracker = create_tracker(load_engine(model, threads=args.threads), tracking)
        model_note = str(model)

    args.out.mkdir(parents=True, exist_ok=True)
    writer = None
    if not args.no_video:
        writer = cv2.VideoWriter(
            str(args.out / "follow.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (camera.width, camera.height)
        )
        if not writer.isOpened():
            print("demo: cannot open an mp4 writer; continuing without video", file=sys.stderr)
            writer = None

    def on_frame(frame, sample) -> None:
        if writer is not None:
            writer.write(annotate(frame, sample, params.standoff_distance))

    print(
        f"demo: {duration:.0f} s at {fps:.0f} frames/s, {camera.width}x{camera.height}, mode {params.mode}, "
        f"tracker: {model_note}"
    )
    t0 = time.perf_counter()
    result = run_loop(sim, FollowController(params), duration, fps, tracker=tracker, on_frame=on_frame)
    wall = time.perf_counter() - t0
    if writer is not None:
        writer.release()
    summary = summarize(result, params.standoff_distance)
    title = f"asymtrack_ros follow demo ({'oracle' if args.oracle else 'tracker'})"
    plot(result, params.standoff_distance, args.out / "follow.png", title)
    print(f"demo: simulated {duration:.0f} s in {wall:.0f} s ({len(result.samples) / wall:.0f} frames/s)")
    print(summary_text(summary, args.oracle))
    outputs = ["follow.png"] + ([] if writer is None else ["follow.mp4"])
    print(f"demo: wrote {', '.join(str(args.out / o) for o in outputs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
