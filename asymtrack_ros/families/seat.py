"""SEAT: checkpoints that carry their architecture, the split ONNX export with an NPU-friendly
form on request and the NPU op census, and ``SeatTracker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tracking.seat_tracker import SeatTracker
from .family import Family

if TYPE_CHECKING:
    import torch

    from ..models.seat.net import SeatNet

# torch, the network and deploy (onnx with it) are imported where a checkpoint is read, a
# network built or exported, never to run an exported graph.


def recognises(ckpt: Any) -> bool:
    from ..models.seat.checkpoint import is_seat_checkpoint

    return is_seat_checkpoint(ckpt)


def load(path: Path, variant: str | None) -> SeatNet:
    from ..models.seat.checkpoint import load_seat_checkpoint

    return load_seat_checkpoint(path, variant)


def example_inputs(net: SeatNet, seed: int = 0) -> dict[str, torch.Tensor]:
    from ..deploy.seat import example_inputs as inputs

    return inputs(net.arch, seed)


def export(net: SeatNet, out_dir: str | Path, fp16: bool = False, npu_friendly: bool = False) -> Path:
    from ..deploy.seat import export_seat

    return export_seat(net, out_dir, npu_friendly=npu_friendly, fp16=fp16)


def export_report(out_dir: Path) -> str:
    from ..deploy.seat import npu_report

    return npu_report(out_dir)


SEAT = Family(
    name="seat",
    title="SEAT",
    variants=("al", "lt"),
    checkpoint_form="a dict with 'state_dict' and 'arch'",
    recognises=recognises,
    load=load,
    spec=lambda net: net.spec(),
    example_inputs=example_inputs,
    export=export,
    tracker=SeatTracker,
    export_options={"npu_friendly": "NPU-friendly"},
    export_report=export_report,
)
