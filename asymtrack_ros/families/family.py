"""What the package needs to know of a tracker family, in one record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..contracts.spec import ModelSpec
from ..tracking.tracker import Tracker

if TYPE_CHECKING:  # the callables import torch themselves: running an exported graph needs none
    import torch
    from torch import nn


@dataclass(frozen=True)
class Family:
    """A tracker family. The engine factory and ``asymtrack export`` use nothing else of it."""

    name: str  # model.json's ``family``; --family, the node's model_family
    title: str  # in messages: "<title>-<variant>"
    variants: tuple[str, ...]  # what --variant may name for it
    checkpoint_form: str  # what its checkpoints hold, for the error on a file no family recognises
    recognises: Callable[[Any], bool]  # on a checkpoint's content (read with safe_pickle)
    load: Callable[[Path, str | None], nn.Module]  # strictly, in eval form; variant None: what the file records
    spec: Callable[[nn.Module], ModelSpec]  # the loaded network's deployment contract
    example_inputs: Callable[[nn.Module, int], dict[str, torch.Tensor]]  # batch 1, by input name, seeded
    export: Callable[..., Path]  # (net, out_dir, fp16=False, **options) -> out_dir
    tracker: type[Tracker]
    # export's boolean options, each with the word that names an export made with it
    export_options: dict[str, str] = field(default_factory=dict)
    export_report: Callable[[Path], str] | None = None  # what to tell about an exported directory
