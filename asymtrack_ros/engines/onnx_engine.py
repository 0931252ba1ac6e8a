"""ONNX Runtime engine over an exported model directory (template.onnx, search.onnx,
model.json), with TensorRT / CUDA / CPU providers in a configurable order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from ..contracts.spec import ModelSpec

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def resolve_providers(
    wanted: Sequence[str], trt_cache_dir: str | None = None, fp16: bool = False
) -> list[str | tuple[str, dict]]:
    """Keep the wanted providers this onnxruntime build has, in order; CPU always last."""
    available = set(ort.get_available_providers())
    chosen: list[str | tuple[str, dict]] = []
    for name in wanted:
        full = PROVIDER_ALIASES.get(name.lower(), name)
        if full not in PROVIDER_ALIASES.values():
            raise ValueError(f"unknown execution provider {name!r}; use tensorrt, cuda or cpu")
        if full not in available:
            log.warning("execution provider %s is not available here; skipping it", full)
            continue
        if full == "TensorrtExecutionProvider":
            opts: dict = {"trt_fp16_enable": fp16}
            if trt_cache_dir:
                Path(trt_cache_dir).mkdir(parents=True, exist_ok=True)
                opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(trt_cache_dir))
            chosen.append((full, opts))
        elif full not in [c if isinstance(c, str) else c[0] for c in chosen]:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def accelerated(wanted: Sequence[str]) -> bool:
    """Whether any wanted provider other than the CPU is available in this build."""
    available = set(ort.get_available_providers()) - {"CPUExecutionProvider"}
    return any(PROVIDER_ALIASES.get(name.lower(), name) in available for name in wanted)


class OnnxEngine:
    name = "onnxruntime"

    def __init__(
        self,
        model_dir: str | Path,
        providers: Sequence[str] = ("tensorrt", "cuda", "cpu"),
        threads: int = 0,
        trt_cache_dir: str | None = None,
        fp16: bool = False,
        spin: bool = True,
    ) -> None:
        """``spin``: the search graph's threads spin-wait between frames (lowest latency);
        turn it off where several sessions share the cores (e.g. interleaved benchmarks).
        """
        model_dir = Path(model_dir)
        self.spec = ModelSpec.from_json(model_dir / "model.json")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        chosen = resolve_providers(providers, trt_cache_dir, fp16)
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._search = self._session(model_dir / "search.onnx", opts, chosen)
        # The template graph runs once per target: its threads must not spin-wait after
        # it, or they steal the cores from the per-frame search graph.
        if spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._template = self._session(model_dir / "template.onnx", opts, chosen)
        self.provider = self._search.get_providers()[0]
        self._output_names = [o.name for o in self._search.get_outputs()]
        self._outputs = _output_buffers(self._search)

    @staticmethod
    def _session(path: Path, opts: ort.SessionOptions, providers: list) -> ort.InferenceSession:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing exported graph")
        try:
            return ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as err:  # noqa: BLE001 - onnxruntime's errors derive from Exception only
            raise ValueError(f"{path}: onnxruntime cannot load it: {err}") from None

    def encode_template(self, inputs: dict[str, np.ndarray]) -> ort.IOBinding:
        """Runs the template graph and binds its outputs to the search graph's inputs once,
        so a frame only binds the search crop.
        """
        names = [o.name for o in self._template.get_outputs()]
        values = self._template.run(names, inputs)
        binding = self._search.io_binding()
        for name, value in zip(names, values):
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value))
        for name in self._output_names:
            if self._outputs is None:
                binding.bind_output(name)
            else:
                out = self._outputs[name]
                binding.bind_output(name, "cpu", 0, out.dtype, out.shape, out.ctypes.data)
        return binding

    def track(self, inputs: dict[str, np.ndarray], cache: ort.IOBinding) -> dict[str, np.ndarray]:
        """The search graph's outputs; with static output shapes, written into buffers that
        every frame reuses (valid until the next call), so a frame allocates nothing here.
        """
        for name, value in inputs.items():
            cache.bind_cpu_input(name, value)
        self._search.run_with_iobinding(cache)
        if self._outputs is not None:
            return self._outputs
        return dict(zip(self._output_names, cache.copy_outputs_to_cpu()))


_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def _output_buffers(session: ort.InferenceSession) -> dict[str, np.ndarray] | None:
    """One array per output when every output's shape and type are fixed; else None."""
    buffers = {}
    for out in session.get_outputs():
        if out.type not in _NUMPY_TYPES or not all(isinstance(d, int) and d > 0 for d in out.shape):
            return None
        buffers[out.name] = np.empty(out.shape, _NUMPY_TYPES[out.type])
    return buffers
