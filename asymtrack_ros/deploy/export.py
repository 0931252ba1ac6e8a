"""ONNX export: a template graph run once per target and a search graph run per frame.

Contract (stable, also for C++ users): ``template.onnx`` takes the model's template
inputs and returns every cache tensor by name; ``search.onnx`` takes the search inputs
plus every cache tensor under the same names and returns the spec's ``outputs``
(``boxes`` and ``score``; AsymTrack adds ``corner_logits``); ``model.json`` is the ``ModelSpec``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from ..contracts.spec import ModelSpec

log = logging.getLogger(__name__)
OPSET = 17


class _TemplateGraph(nn.Module):
    def __init__(self, net: nn.Module, spec: ModelSpec, fp16: bool) -> None:
        super().__init__()
        self.net, self.spec, self.fp16 = net, spec, fp16

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.fp16:
            inputs = tuple(i.half() for i in inputs)
        cache = self.net.encode_template(**dict(zip(self.spec.template_inputs, inputs)))
        return tuple(cache[n] for n in self.spec.cache_names)


class _SearchGraph(nn.Module):
    def __init__(self, net: nn.Module, spec: ModelSpec, fp16: bool) -> None:
        super().__init__()
        self.net, self.spec, self.fp16 = net, spec, fp16

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = len(self.spec.search_inputs)
        searches = inputs[:n]
        if self.fp16:
            searches = tuple(i.half() for i in searches)
        cache = dict(zip(self.spec.cache_names, inputs[n:]))
        out = self.net.track(**dict(zip(self.spec.search_inputs, searches)), cache=cache)
        return tuple(out[k].float() for k in self.spec.outputs)


def export_onnx(
    net: nn.Module,
    spec: ModelSpec,
    out_dir: str | Path,
    example: dict[str, torch.Tensor],
    fp16: bool = False,
    search_dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    """Write template.onnx, search.onnx and model.json for ``net`` (eval/deploy form).
    ``example`` holds one batch-1 tensor per template and search input name;
    ``search_dynamic_axes`` (torch.onnx's ``dynamic_axes``) frees sizes of the search graph.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = net.eval().half() if fp16 else net.float().eval()
    tmpl_args = tuple(example[n] for n in spec.template_inputs)
    # The TorchScript exporter is deliberate (no onnxscript needed, stable op set); its
    # deprecation and tracer notices are noise for users of this fixed-shape graph.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # eval wrappers: the exporter restores the wrapper's mode, recursively, afterwards
        cache_graph = _TemplateGraph(net, spec, fp16).eval()
        cache = cache_graph(*tmpl_args)
        torch.onnx.export(
            cache_graph,
            tmpl_args,
            str(out_dir / "template.onnx"),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(spec.template_inputs),
            output_names=list(spec.cache_names),
        )
        search_args = tuple(example[n] for n in spec.search_inputs) + tuple(cache)
        torch.onnx.export(
            _SearchGraph(net, spec, fp16).eval(),
            search_args,
            str(out_dir / "search.onnx"),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(spec.search_inputs) + list(spec.cache_names),
            output_names=list(spec.outputs),
            dynamic_axes=search_dynamic_axes,
        )
    for name in ("template.onnx", "search.onnx"):
        onnx.checker.check_model(str(out_dir / name))
    spec_out = ModelSpec(**{**spec.__dict__, "opset": OPSET, "precision": "fp16" if fp16 else "fp32"})
    spec_out.to_json(out_dir / "model.json")
    return out_dir


def max_abs_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.abs(np.asarray(a[k], np.float32) - np.asarray(b[k], np.float32)).max()) for k in a)
