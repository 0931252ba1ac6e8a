"""Building blocks of the AsymTrack backbone (EfficientMod-xxs with ETM and OPE).

Every block works on token tensors ``[B, N, C]`` (N = H*W, row-major) so that the
checkpoint's Linear / LayerNorm weights apply directly and ONNX Runtime can fuse
bias+GELU and residual+LayerNorm (its fusions want rank-3 tensors); convolutions
reshape to NCHW locally, given the feature map size ``hw``.
Parameter names mirror the official checkpoint so that strict loading works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HW = tuple[int, int]


# Both conversions go through NHWC with a 4-D permute: onnxruntime folds such a permute into
# its convolutions' own layout changes (the int8 search step 0.92x as long, 24 fewer
# Transpose nodes), where a 3-D transpose beside a reshape stays a node of its own.
def to_nchw(x: torch.Tensor, hw: HW) -> torch.Tensor:
    return x.reshape(x.shape[0], hw[0], hw[1], x.shape[2]).permute(0, 3, 1, 2)


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2] * x.shape[3], x.shape[1])


class ConvEmbed(nn.Module):
    """Strided conv + LayerNorm: the stem (7x7 s4) and the stage downsamplers (3x3 s2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2)
        self.norm = nn.LayerNorm(c_out)

    def forward(self, x_nchw: torch.Tensor) -> tuple[torch.Tensor, HW]:
        y = self.proj(x_nchw)
        return self.norm(to_tokens(y)), (y.shape[2], y.shape[3])


class ContextLayer(nn.Module):
    """Context branch of the modulation MLP: f -> depthwise 7x7 -> GELU -> g; ``out``
    context channels (one per hidden unit in a slim block).
    """

    def __init__(self, dim: int, out: int | None = None) -> None:
        super().__init__()
        self.f = nn.Linear(dim, dim)
        self.g = nn.Linear(dim, out or dim)
        self.context_list = nn.ModuleList([nn.Conv2d(dim, dim, 7, padding=3, groups=dim)])

    def forward(self, x: torch.Tensor, hw: HW) -> torch.Tensor:
        return self.g(F.gelu(to_tokens(self.context_list[0](to_nchw(self.f(x), hw)))))


class ModulationMlp(nn.Module):
    """Efficient modulation: fc1(x) (GELU when expanded) times the context, then fc2.

    ``hidden`` makes an expanded block slim: each of its ``hidden`` units has a context
    channel of its own (g's rows), instead of the reference's context tiled ``ratio`` times
    over ``ratio * dim`` units. A reference block is the slim block of all its units with g
    tiled; ``models.slimming`` keeps the units that matter.
    """

    def __init__(self, dim: int, ratio: int, hidden: int | None = None) -> None:
        super().__init__()
        if hidden is not None and ratio == 1:
            raise ValueError("only an expanded block (ratio > 1) has hidden units to slim")
        self.ratio, self.hidden = ratio, hidden
        width = hidden or dim * ratio
        self.fc1 = nn.Linear(dim, width)
        self.fc2 = nn.Linear(width, dim)
        self.context_layer = ContextLayer(dim, hidden)

    def forward(self, x: torch.Tensor, hw: HW) -> torch.Tensor:
        ctx = self.context_layer(x, hw)
        h = self.fc1(x)
        if self.hidden is not None:
            h = F.gelu(h) * ctx
        elif self.ratio > 1:
            # The reference tiles the context r times along channels (concatenation, not
            # interleaving); a broadcast over an [r, C] view is the same without the copy.
            shape = h.shape
            h = (F.gelu(h).reshape(*shape[:-1], self.ratio, -1) * ctx.unsqueeze(-2)).reshape(shape)
        else:
            h = h * ctx
        return self.fc2(h)


class BasicBlock(nn.Module):
    """x + gamma * Mlp(LN(x)) with LayerScale gamma (folded into fc2 for inference)."""

    def __init__(self, dim: int, ratio: int, hidden: int | None = None) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = ModulationMlp(dim, ratio, hidden)
        self.gamma_1: nn.Parameter | None = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, hw: HW) -> torch.Tensor:
        y = self.mlp(self.norm(x), hw)
        return x + (y if self.gamma_1 is None else self.gamma_1 * y)

    @torch.no_grad()
    def reparameterize(self) -> None:
        self.mlp.fc2.weight.mul_(self.gamma_1[:, None])
        self.mlp.fc2.bias.mul_(self.gamma_1)
        self.gamma_1 = None


class OPE(nn.Module):
    """Object perception enhancement; three 3x3 branches minus their sigmoid-weighted DC
    component, foldable into a single 3x3 conv for inference (``reparameterize``).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.rbr_conv = nn.ModuleList([nn.Conv2d(dim, dim, 3, padding=1, bias=False) for _ in range(3)])
        self.theta = nn.Parameter(torch.zeros(1))
        self.ibe_scale = nn.Parameter(torch.ones(dim))
        self.ln = nn.LayerNorm(dim)
        self.reparam_conv: nn.Conv2d | None = None

    def fused_weight(self) -> torch.Tensor:
        w = torch.stack([c.weight for c in self.rbr_conv]).sum(0)
        dc = w.sum(dim=(2, 3))
        return w - torch.sigmoid(self.theta) * F.pad(dc[:, :, None, None], (1, 1, 1, 1))

    def forward(self, x: torch.Tensor, hw: HW) -> torch.Tensor:
        xc = to_nchw(x, hw)
        if self.reparam_conv is not None:
            out = self.reparam_conv(xc)
        else:  # training form: the same maths, differentiable in the branch weights
            out = F.conv2d(xc, self.fused_weight(), padding=1)
        return x + self.ibe_scale * F.relu(self.ln(to_tokens(out)))

    @torch.no_grad()
    def reparameterize(self) -> None:
        dim = self.ln.normalized_shape[0]
        conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
        conv.weight.copy_(self.fused_weight())
        self.reparam_conv = conv
        del self.rbr_conv
        del self.theta


class DynamicKernelConv(nn.Module):
    """Template-conditioned separable conv on the search kernels (ETM step 3)."""

    def __init__(self, dim: int, n: int) -> None:
        super().__init__()
        self.weight_linear = nn.Linear(dim, n + 3)
        self.norm = nn.LayerNorm(dim)

    def forward(self, k_x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # params [B, n, n+3]: per row a 1x3 depthwise kernel along C, then an n x n mixing.
        c = k_x.shape[-1]
        padded = F.pad(k_x, (1, 1))
        dw = sum(params[..., t : t + 1] * padded[..., t : t + c] for t in range(3))
        mixed = torch.matmul(params[..., 3:], F.relu(dw))
        norm = self.norm
        return F.layer_norm(
            mixed, norm.normalized_shape, norm.weight.to(mixed.dtype), norm.bias.to(mixed.dtype), norm.eps
        )


class ETM(nn.Module):
    """Efficient template modulation: the search stream is modulated by kernels that the
    template stream produced once. Unused reference parameters are kept for strict loading.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        n = dim // 32
        self.pre_kernels = nn.Linear(dim, n)
        self.pre_kernels_x = nn.Linear(dim, n)
        self.post_kernels = nn.Linear(n, dim)  # unused by the reference forward
        self.downsample = ConvEmbed(dim, dim, 3, 1)  # unused by the reference forward
        self.proj_Cto1 = nn.Linear(dim, 1)
        self.ln = nn.LayerNorm(dim)
        self.conv_att = DynamicKernelConv(dim, n)

    # The kernels A^T X sum over every token and overflow fp16, so the small [n, C] kernel
    # path always runs in fp32 (a no-op in an fp32 network).

    def template_params(self, z: torch.Tensor) -> torch.Tensor:
        """Everything ETM needs from the template: the dynamic-conv parameters [B, n, n+3]."""
        k_z = torch.matmul(self.pre_kernels(z).transpose(1, 2).float(), z.float())
        return F.linear(
            k_z.detach(), self.conv_att.weight_linear.weight.float(), self.conv_att.weight_linear.bias.float()
        )

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        a_x = self.pre_kernels_x(x)
        k_hat = self.conv_att(torch.matmul(a_x.transpose(1, 2).float(), x.float()), params.float())
        gate = torch.sigmoid(torch.matmul(self.proj_Cto1(k_hat.to(x.dtype)).transpose(1, 2).float(), k_hat))
        k_hat, gate = k_hat.to(x.dtype), gate.to(x.dtype)
        return x + F.relu(self.ln(torch.matmul(a_x, k_hat) * gate))


class CrossAttentionBlock(nn.Module):
    """Pre-LN transformer block whose search queries attend over search + cached template
    keys/values; only the search tokens are kept.
    """

    def __init__(self, dim: int, heads: int = 8, head_dim: int = 32, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.attn.proj = nn.Linear(inner, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.mlp.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def _qkv(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        qkv = self.attn.qkv(self.norm1(tokens)).reshape(b, n, 3, self.heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4)  # [3, B, heads, N, head_dim]

    def template_kv(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        qkv = self._qkv(z)
        return qkv[1], qkv[2]

    def forward(self, x: torch.Tensor, k_z: torch.Tensor, v_z: torch.Tensor) -> torch.Tensor:
        qkv = self._qkv(x)
        attn = F.scaled_dot_product_attention(qkv[0], torch.cat([qkv[1], k_z], 2), torch.cat([qkv[2], v_z], 2))
        x = x + self.attn.proj(attn.transpose(1, 2).flatten(2))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))
