"""The int8 search graph of a shipped file against its fp32 graph, tracked on the
validation split and recorded beside the file. The CPU default follows that record
(``engines.factory.int8_holds``): quantisation that costs accuracy on real footage is
never switched on unmeasured.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..engines.factory import INT8_AUC_TOLERANCE, file_digest, int8_keeps_accuracy, int8_record_path
from ..evaluation.datasets import load_dataset
from ..evaluation.report import summarize
from ..evaluation.runner import run_all, score_results

COMPARED = ("fp32", "int8")


def check_int8(checkpoint: str | Path, datasets: list[str], workers: int = 1) -> dict:
    """Track ``datasets`` (``asymtrack eval --dataset`` specs) with both graphs of
    ``checkpoint`` on onnxruntime CPU; write and return the record.
    """
    checkpoint = Path(checkpoint)
    sequences = [s for spec in datasets for s in load_dataset(spec)]
    if not sequences:
        raise ValueError(f"no sequences in {datasets}")
    specs = [f"asymtrack:{checkpoint}:onnxruntime:{p}" for p in COMPARED]
    with tempfile.TemporaryDirectory() as tmp:
        run_all(specs, sequences, tmp, workers)
        summary = summarize(score_results(tmp, sequences))
    overall = {p: next(s["overall"] for name, s in summary.items() if name.endswith(f" {p}")) for p in COMPARED}
    record = {
        "checkpoint": checkpoint.name,
        "checkpoint_sha1": file_digest(checkpoint),
        "datasets": datasets,
        "sequences": sorted(s.name for s in sequences),
        "fp32_auc": round(overall["fp32"]["auc"], 4),
        "int8_auc": round(overall["int8"]["auc"], 4),
        "tolerance": INT8_AUC_TOLERANCE,
        "fp32_median_ms": round(overall["fp32"]["median_ms"], 2),
        "int8_median_ms": round(overall["int8"]["median_ms"], 2),
    }
    record["int8_default"] = int8_keeps_accuracy(record["fp32_auc"], record["int8_auc"])
    int8_record_path(checkpoint).write_text(json.dumps(record, indent=2) + "\n")
    return record
