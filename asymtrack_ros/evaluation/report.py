"""Report of an evaluation: Markdown table, JSON and success / precision plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .metrics import CE_THRESHOLDS, IOU_THRESHOLDS, SIZE_BUCKETS, aggregate, aggregate_by_size  # noqa: E402


def summarize(scored: dict[str, dict]) -> dict[str, dict]:
    """Per tracker: the overall figures (mean over sequences), per-sequence ones and success
    AUC by target size (frames pooled).
    """
    out = {}
    for tracker, entry in scored.items():
        overall = aggregate(entry["curves"])
        overall.update(median_ms=entry["median_ms"], fps_end_to_end=entry["fps_end_to_end"])
        by_size = aggregate_by_size(entry.get("by_size", []))
        out[tracker] = {"overall": overall, "sequences": entry["sequences"], "by_size": by_size}
    return out


def markdown_table(summary: dict[str, dict]) -> str:
    lines = [
        "| tracker | AUC | P@20 | norm. P | AO | SR0.5 | SR0.75 | lost events | median ms | FPS (end to end) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(summary.items(), key=lambda kv: -kv[1]["overall"]["auc"])
    for name, s in ranked:
        o = s["overall"]
        lines.append(
            f"| {name} | {o['auc']:.3f} | {o['precision20']:.3f} | {o['norm_precision']:.3f} | {o['ao']:.3f} | "
            f"{o['sr50']:.3f} | {o['sr75']:.3f} | {o['lost_events']} | {o['median_ms']:.1f} | "
            f"{o['fps_end_to_end']:.0f} |"
        )
    seqs = sorted({q for s in summary.values() for q in s["sequences"]})
    lines += ["", "Success AUC per sequence:", "", "| tracker | " + " | ".join(seqs) + " |"]
    lines.append("|---|" + "---|" * len(seqs))
    for name, s in ranked:
        cells = [f"{s['sequences'][q]['auc']:.3f}" if q in s["sequences"] else "-" for q in seqs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    buckets = [b for b, _, _ in SIZE_BUCKETS if any(b in s.get("by_size", {}) for s in summary.values())]
    if buckets:
        lines += ["", "Success AUC by target size (sqrt(w*h) in a 720-line frame; frames pooled):", ""]
        lines.append("| tracker | " + " | ".join(buckets) + " |")
        lines.append("|---|" + "---|" * len(buckets))
        for name, s in ranked:
            sizes = s.get("by_size", {})
            cells = [f"{sizes[b]['auc']:.3f} ({sizes[b]['frames']})" if b in sizes else "-" for b in buckets]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(summary: dict[str, dict], out_dir: Path) -> list[Path]:
    paths = []
    for key, x, xlabel, title, fname, fmt in (
        ("success_curve", IOU_THRESHOLDS, "overlap threshold", "Success plot", "success.png", "auc"),
        (
            "precision_curve",
            CE_THRESHOLDS,
            "location error threshold (px)",
            "Precision plot",
            "precision.png",
            "precision20",
        ),
    ):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name, s in sorted(summary.items(), key=lambda kv: -kv[1]["overall"][fmt]):
            ax.plot(x, s["overall"][key], label=f"{name} [{s['overall'][fmt]:.3f}]")
        ax.set(xlabel=xlabel, ylabel="fraction of frames", title=title, ylim=(0, 1.02), xlim=(x[0], x[-1]))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left" if key == "success_curve" else "lower right", fontsize=8)
        fig.tight_layout()
        path = out_dir / fname
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(summary: dict[str, dict], out_dir: Path, versions: dict[str, str] | None = None) -> str:
    """``versions``: what the trackers ran on (``runner.versions``), named under the table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(summary)
    if versions:
        table += "\nRun with " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".\n"
    (out_dir / "report.md").write_text(table)
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_curves(summary, out_dir)
    return table
