"""Running trackers over sequences: results in the plain text format other toolkits read
(one ``x,y,w,h`` line per frame), per-frame times, re-scoring without re-running.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..files.sequences import read_boxes, write_boxes
from .datasets import Sequence
from .metrics import ious_by_size, score_sequence, valid_frames
from .trackers import make_tracker


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "tracker"


@dataclass
class RunRecord:
    tracker: str
    sequence: str
    update_ms: list[float]  # tracker time per frame, init excluded
    wall_s: float  # whole loop including frame decoding


def run_one(tracker_spec: str, seq: Sequence, out_dir: str, params: dict | None = None) -> RunRecord:
    """One tracker on one sequence; writes ``<out>/<tracker>/<seq>.txt`` and timing JSON."""
    tracker = make_tracker(tracker_spec, params)
    boxes, times = [], []
    start = time.perf_counter()
    for i, frame in enumerate(seq.frames):
        if i == 0:
            tracker.init(frame, seq.init_box)
            boxes.append(seq.init_box)
            continue
        t0 = time.perf_counter()
        boxes.append(tracker.update(frame))
        times.append(1000 * (time.perf_counter() - t0))
    return _save_run(tracker.name, seq, boxes, times, time.perf_counter() - start, out_dir)


def run_interleaved(
    tracker_specs: list[str], seq: Sequence, out_dir: str, params: dict | None = None
) -> list[RunRecord]:
    """Every tracker on one sequence, frame by frame in turn (the order rotating by one each
    frame), so that their per-frame times meet the same state of the host: a shared CPU
    that changes speed while one tracker has a whole sequence to itself gives that tracker
    a median of its own. The onnxruntime sessions do not spin-wait between calls, which
    would take the cores from the next tracker. Each tracker's ``wall_s`` is its own time
    (init and updates), not the frame decoding the trackers share.
    """
    trackers = [make_tracker(spec, params, spin=False) for spec in tracker_specs]
    boxes: list[list] = [[] for _ in trackers]
    times: list[list[float]] = [[] for _ in trackers]
    own = [0.0] * len(trackers)
    for i, frame in enumerate(seq.frames):
        for k in range(len(trackers)):
            j = (i + k) % len(trackers)
            t0 = time.perf_counter()
            if i == 0:
                trackers[j].init(frame, seq.init_box)
                boxes[j].append(seq.init_box)
            else:
                boxes[j].append(trackers[j].update(frame))
                times[j].append(1000 * (time.perf_counter() - t0))
            own[j] += time.perf_counter() - t0
    return [_save_run(t.name, seq, b, ms, s, out_dir) for t, b, ms, s in zip(trackers, boxes, times, own)]


def _save_run(name: str, seq: Sequence, boxes: list, times: list[float], wall: float, out_dir: str) -> RunRecord:
    folder = Path(out_dir) / safe_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    write_boxes(folder / f"{seq.name}.txt", np.asarray(boxes))
    record = RunRecord(name, seq.name, times, wall)
    (folder / f"{seq.name}_time.json").write_text(json.dumps(record.__dict__) + "\n")
    return record


VERSIONS_FILE = "versions.json"


def versions() -> dict[str, str]:
    """What the figures depend on beside the trackers: OpenCV's trackers change with its
    version (5.0 and 5.1 give NanoTrack and VitTrack markedly different AUC).
    """
    import cv2
    import onnxruntime
    import torch

    return {"opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


def record_versions(out_dir: str | Path) -> None:
    path = Path(out_dir) / VERSIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(versions()) + "\n")


def run_all(
    tracker_specs: list[str],
    sequences: list[Sequence],
    out_dir: str | Path,
    workers: int = 1,
    params: dict | None = None,
    interleave: bool = False,
) -> list[RunRecord]:
    """Every tracker on every sequence; ``workers`` > 1 runs jobs in parallel processes
    (faster, but then the per-frame times share the cores). ``params`` override the
    package trackers' parameters. ``interleave``: the trackers take each sequence frame by
    frame in turn (``run_interleaved``), one job per sequence.
    """
    record_versions(out_dir)
    for spec in dict.fromkeys(tracker_specs):
        # Built once here first: a bad spec or a missing model fails before any run (not
        # after every other job has run), and checkpoints are exported once, not by
        # several workers at a time.
        make_tracker(spec, params)
    if interleave:
        run, jobs = run_interleaved, [(list(tracker_specs), seq, str(out_dir), params) for seq in sequences]
    else:
        run, jobs = run_one, [(t, seq, str(out_dir), params) for seq in sequences for t in tracker_specs]
    if workers <= 1:
        done = [run(*job) for job in tqdm(jobs, unit="run")]
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(run, *job) for job in jobs]
            done = [f.result() for f in tqdm(futures, unit="run")]
    return [r for result in done for r in result] if interleave else done


def frame_height(seq: Sequence) -> int:
    """Height of the sequence's first frame (target sizes are judged against it)."""
    first = next(iter(seq.frames))
    return int(first.shape[0])


def score_results(results_dir: str | Path, sequences: list[Sequence]) -> dict[str, dict]:
    """Re-score every tracker folder under ``results_dir`` against the ground truth; trackers
    are named as they named themselves when run (folder names are file-system safe).
    """
    results_dir = Path(results_dir)
    report: dict[str, dict] = {}
    heights: dict[str, int] = {}
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        per_seq, by_size, times, walls, frames, name = {}, [], [], 0.0, 0, folder.name
        for seq in sequences:
            path = folder / f"{seq.name}.txt"
            if not path.is_file() or valid_frames(seq.groundtruth).sum() < 2:
                continue
            pred = read_boxes(path)
            if len(pred) != len(seq.groundtruth):
                raise ValueError(f"{path}: {len(pred)} boxes for {len(seq.groundtruth)} frames")
            per_seq[seq.name] = score_sequence(pred, seq.groundtruth)
            if seq.name not in heights:
                heights[seq.name] = frame_height(seq)
            by_size.append(ious_by_size(pred, seq.groundtruth, heights[seq.name]))
            timing = folder / f"{seq.name}_time.json"
            if timing.is_file():
                rec = json.loads(timing.read_text())
                name = rec["tracker"]
                times += rec["update_ms"]
                walls += rec["wall_s"]
                frames += len(rec["update_ms"]) + 1
        if per_seq:
            report[name] = {
                "sequences": {k: v.summary() for k, v in per_seq.items()},
                "curves": [v for v in per_seq.values()],
                "by_size": by_size,
                "median_ms": float(np.median(times)) if times else float("nan"),
                "fps_end_to_end": frames / walls if walls else float("nan"),
            }
    return report
