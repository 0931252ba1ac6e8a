"""AsymTrack: official and shipped checkpoints, the split ONNX export with an int8 search graph
on request, and ``AsymTrackTracker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models.asymtrack_variants import VARIANTS, model_spec
from ..tracking.asymtrack_tracker import AsymTrackTracker
from .family import Family

if TYPE_CHECKING:
    import torch

    from ..models.asymtrack import AsymTrack

# torch and the network are imported where a checkpoint is read or a network built, never
# to run an exported graph (a tracker node on onnxruntime starts without them).


def recognises(ckpt: Any) -> bool:
    from ..models.checkpoint import is_asymtrack_checkpoint

    return is_asymtrack_checkpoint(ckpt)


def load(path: Path, variant: str | None) -> AsymTrack:
    from ..models.checkpoint import load_checkpoint

    return load_checkpoint(path, variant)


def example_inputs(net: AsymTrack, seed: int = 0) -> dict[str, torch.Tensor]:
    import torch

    spec = model_spec(net.variant)
    gen = torch.Generator().manual_seed(seed)
    t, s = spec.template_size, spec.search_size
    return {"template": torch.randn(1, 3, t, t, generator=gen), "search": torch.randn(1, 3, s, s, generator=gen)}


def export(net: AsymTrack, out_dir: str | Path, fp16: bool = False, int8: bool = False) -> Path:
    """template.onnx, search.onnx and model.json; ``int8``: the search graph in int8 (see
    ``deploy.quantize``).
    """
    from ..deploy.calibration import calibration_feeds
    from ..deploy.export import export_onnx
    from ..deploy.quantize import quantize_int8

    if int8 and fp16:
        raise ValueError("int8 and fp16 exclude each other")
    out = export_onnx(net, model_spec(net.variant), out_dir, example_inputs(net), fp16=fp16)
    if int8:
        quantize_int8(out, calibration_feeds)
    return out


ASYMTRACK = Family(
    name="asymtrack",
    title="AsymTrack",
    variants=tuple(sorted(VARIANTS)),
    checkpoint_form="a dict with key 'net' or a bare state dict",
    recognises=recognises,
    load=load,
    spec=lambda net: model_spec(net.variant),
    example_inputs=example_inputs,
    export=export,
    tracker=AsymTrackTracker,
    export_options={"int8": "int8"},
)
