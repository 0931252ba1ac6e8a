"""PyTorch eager engine (CPU or CUDA)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..contracts.spec import ModelSpec


class TorchEngine:
    name = "torch"

    def __init__(self, net: nn.Module, spec: ModelSpec, device: str = "cpu", fp16: bool = False) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")
        self.spec = spec
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 and self.device.type == "cuda" else torch.float32
        self.net = net.to(self.device, self.dtype).eval()
        self.provider = str(self.device)

    def _tensors(self, inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v).to(self.device, self.dtype) for k, v in inputs.items()}

    @torch.inference_mode()
    def encode_template(self, inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return self.net.encode_template(**self._tensors(inputs))

    @torch.inference_mode()
    def track(self, inputs: dict[str, np.ndarray], cache: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        out = self.net.track(**self._tensors(inputs), cache=cache)
        return {k: v.float().cpu().numpy() for k, v in out.items()}
