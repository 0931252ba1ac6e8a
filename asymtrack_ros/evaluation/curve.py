"""Learning curves: success AUC on a validation split against the pairs each run has seen,
so that the next training step is chosen from data (``asymtrack curve``).

Each run folder's epoch checkpoints (``<family>_ep<NNNN>.pth.tar``) are points at
epoch x ``data.samples_per_epoch`` pairs (read from the checkpoint's own config); the
common starting file, when given, is the point at 0 pairs of every run. Each point's
tracker results are kept under ``OUT/<run>/<checkpoint>/`` and not run again, so the
command can follow runs that are still training.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..models.safe_pickle import read_checkpoint
from .report import summarize
from .runner import run_all, score_results


def checkpoint_points(run: Path) -> list[tuple[int, Path]]:
    """(pairs seen, checkpoint) of a run folder's epoch checkpoints, in order."""
    points = []
    for path in sorted((run / "checkpoints").glob("*_ep[0-9][0-9][0-9][0-9].pth.tar")):
        ckpt = read_checkpoint(path)
        cfg = ckpt.get("settings", {}).get("config") if isinstance(ckpt, dict) else None
        if not cfg:
            raise ValueError(f"{path}: no training config inside (not a checkpoint of asymtrack train)")
        points.append((int(ckpt["epoch"]) * int(cfg["data"]["samples_per_epoch"]), path))
    return points


def point_auc(model: Path, sequences: list, out: Path, engine: str, workers: int) -> float:
    """Mean success AUC of ``model`` over ``sequences`` (cached in ``out``)."""
    report = out / "report.json"
    if not report.is_file():
        results = out / "results"
        run_all([f"asymtrack:{model}:{engine}"], sequences, results, workers)
        summary = summarize(score_results(results, sequences))
        (tracker,) = summary.values()
        report.write_text(json.dumps({"model": str(model), "auc": tracker["overall"]["auc"]}) + "\n")
    return float(json.loads(report.read_text())["auc"])


def learning_curves(
    runs: dict[str, Path],
    sequences: list,
    out: Path,
    start: Path | None = None,
    engine: str = "torch",
    workers: int = 1,
) -> dict[str, list[tuple[int, float]]]:
    """Per run name: [(pairs seen, AUC), ...], the start file's AUC first when given."""
    first = [(0, point_auc(start, sequences, out / "start", engine, workers))] if start else []
    curves = {}
    for name, run in runs.items():
        curves[name] = first + [
            (pairs, point_auc(path, sequences, out / name / path.name.split(".")[0], engine, workers))
            for pairs, path in checkpoint_points(run)
        ]
    (out / "curves.json").write_text(json.dumps(curves, indent=2) + "\n")
    return curves


def plot_curves(curves: dict[str, list[tuple[int, float]]], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in curves.items():
        ax.plot([p for p, _ in points], [a for _, a in points], "o-", label=name)
    ax.set_xlabel("training pairs seen")
    ax.set_ylabel("mean success AUC")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
