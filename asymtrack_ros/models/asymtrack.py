"""AsymTrack network: asymmetric Siamese tracker with a template stream run once and a
search stream that consumes its cached outputs.

``encode_template`` returns a plain dict of tensors (the template cache) and ``track``
reads it; the network holds no per-target state, so re-initialising is exact.
"""

from __future__ import annotations

import torch
from torch import nn

from .asymtrack_blocks import ETM, HW, OPE, BasicBlock, ConvEmbed, CrossAttentionBlock, to_nchw
from .asymtrack_variants import AsymTrackVariant, get_variant
from .corner_head import CornerHead

STAGE_DIMS = (32, 64, 128)
STAGE1_RATIOS = (1, 6)  # the expansion ratio of each basic block of stages 1 and 2

# Hidden units of each slimmed block, by (stage, block) index: {(0, 1): 64} makes the
# second block of stage 1 a slim one of 64 units (see ModulationMlp).
SlimWidths = dict[tuple[int, int], int]


class Stage(nn.Module):
    """Basic blocks, then ETM (stages 2, 3), OPE, attention (stage 3), then downsample."""

    def __init__(
        self,
        dim: int,
        out_dim: int,
        ratios: tuple[int, ...],
        etm: bool,
        attention: bool,
        hidden: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden or {}
        blocks: list[nn.Module] = [BasicBlock(dim, r, hidden.get(j)) for j, r in enumerate(ratios)]
        if etm:
            blocks.append(ETM(dim))
        blocks.append(OPE(dim))
        if attention:
            blocks.append(CrossAttentionBlock(dim))
        self.blocks = nn.ModuleList(blocks)
        self.downsample = ConvEmbed(dim, out_dim, 3, 2)

    def template_forward(
        self, z: torch.Tensor, hw: HW, cache: dict[str, torch.Tensor], stage: int
    ) -> tuple[torch.Tensor, HW]:
        for blk in self.blocks:
            if isinstance(blk, ETM):
                cache[f"etm_params_s{stage}"] = blk.template_params(z)
            elif isinstance(blk, CrossAttentionBlock):
                cache["attn_k"], cache["attn_v"] = blk.template_kv(z)
                return z, hw  # the template stream ends here: nothing downstream uses it
            else:
                z = blk(z, hw)
        return self.downsample(to_nchw(z, hw))

    def search_forward(
        self, x: torch.Tensor, hw: HW, cache: dict[str, torch.Tensor], stage: int
    ) -> tuple[torch.Tensor, HW]:
        for blk in self.blocks:
            if isinstance(blk, ETM):
                x = blk(x, cache[f"etm_params_s{stage}"])
            elif isinstance(blk, CrossAttentionBlock):
                x = blk(x, cache["attn_k"], cache["attn_v"])
            else:
                x = blk(x, hw)
        return self.downsample(to_nchw(x, hw))


class Backbone(nn.Module):
    def __init__(self, variant: AsymTrackVariant, slim: SlimWidths | None = None) -> None:
        super().__init__()
        slim = slim or {}
        check_slimmable(slim, variant)
        per_stage = [{j: w for (i, j), w in slim.items() if i == stage} for stage in range(3)]
        self.patch_embed = ConvEmbed(3, STAGE_DIMS[0], 7, 4)
        self.layers = nn.ModuleList(
            [
                Stage(32, 64, STAGE1_RATIOS, etm=False, attention=False, hidden=per_stage[0]),
                Stage(64, 128, STAGE1_RATIOS, etm=True, attention=False, hidden=per_stage[1]),
                Stage(128, 256, variant.stage3_ratios, etm=True, attention=True, hidden=per_stage[2]),
            ]
        )


def expanded_blocks(variant: AsymTrackVariant) -> list[tuple[int, int]]:
    """(stage, block) of every basic block with an expansion ratio above 1: the slimmable ones."""
    ratios = (STAGE1_RATIOS, STAGE1_RATIOS, variant.stage3_ratios)
    return [(i, j) for i, stage in enumerate(ratios) for j, r in enumerate(stage) if r > 1]


def check_slimmable(widths: SlimWidths, variant: AsymTrackVariant) -> None:
    """Refuses widths for a block that is not an expanded one of ``variant``."""
    unknown = sorted(set(widths) - set(expanded_blocks(variant)))
    if unknown:
        raise ValueError(f"AsymTrack-{variant.name} has no expanded block to slim at (stage, block) {unknown}")


def widths_from_text(text: str, variant: AsymTrackVariant) -> SlimWidths:
    """``48,96``: hidden units of each expanded block in network order (AsymTrack-T: stage
    1's, then stage 2's); 0 leaves a block as it is; empty: none slimmed.
    """
    if not text.strip():
        return {}
    blocks = expanded_blocks(variant)
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"widths must be integers separated by commas, got {text!r}") from None
    if len(values) != len(blocks):
        name = variant.name
        raise ValueError(f"AsymTrack-{name} has {len(blocks)} expanded blocks {blocks}; got {len(values)} widths")
    return {where: v for where, v in zip(blocks, values) if v}


def widths_to_text(widths: SlimWidths, variant: AsymTrackVariant) -> str:
    """The inverse of ``widths_from_text`` ("" when nothing is slimmed)."""
    return ",".join(str(widths.get(where, 0)) for where in expanded_blocks(variant)) if widths else ""


class ScoreHead(nn.Module):
    """Learned target-presence confidence on the neck features: the derived corner-peak
    score cannot tell a distractor's sharp peak from the target's. Returns logits [B].
    """

    def __init__(self, channels: int = 256, hidden: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.fc = nn.Linear(2 * hidden, 1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv2(torch.relu(self.conv1(fmap))))
        return self.fc(torch.cat([y.amax(dim=(2, 3)), y.mean(dim=(2, 3))], dim=1)).squeeze(1)


class AsymTrack(nn.Module):
    def __init__(
        self, variant: str | AsymTrackVariant, score_head: bool = False, slim: SlimWidths | None = None
    ) -> None:
        """``score_head``: add the learned confidence (official checkpoints have none and
        score with the corner heatmaps' peak mass). ``slim``: the slimmed blocks' widths.
        """
        super().__init__()
        self.variant = variant if isinstance(variant, AsymTrackVariant) else get_variant(variant)
        self.slim: SlimWidths = dict(slim or {})
        self.backbone = Backbone(self.variant, self.slim)
        self.bottleneck = nn.Linear(256, 256)
        self.box_head = CornerHead(256, self.variant.feat_size)
        self.score_head = ScoreHead(256) if score_head else None

    def encode_template(self, template: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the template stream once: ETM parameters of stages 2, 3 and attention K/V."""
        cache: dict[str, torch.Tensor] = {}
        z, hw = self.backbone.patch_embed(template)
        for i, stage in enumerate(self.backbone.layers):
            z, hw = stage.template_forward(z, hw, cache, i + 1)
        return cache

    def search_features(self, search: torch.Tensor, cache: dict[str, torch.Tensor]) -> tuple[torch.Tensor, HW]:
        """Backbone output as tokens [B, H*W, 256] and its map size."""
        x, hw = self.backbone.patch_embed(search)
        for i, stage in enumerate(self.backbone.layers):
            x, hw = stage.search_forward(x, hw, cache, i + 1)
        return x, hw

    def track(self, search: torch.Tensor, cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feat, hw = self.search_features(search, cache)
        fmap = to_nchw(self.bottleneck(feat), hw)
        boxes, score, corner_logits = self.box_head(fmap)
        if self.score_head is not None:
            score = torch.sigmoid(self.score_head(fmap))
        return {"boxes": boxes, "score": score, "corner_logits": corner_logits}

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        """Joint pass used for training: identical maths to encode_template + track."""
        return self.track(search, self.encode_template(template))

    def reparameterize(self) -> AsymTrack:
        """Deploy form: every OPE folded into its single conv, LayerScale into fc2, the
        head's BatchNorms into its convs and its two towers into one stack.
        Idempotent; returns self for chaining.
        """
        for m in list(self.modules()):
            if (
                (isinstance(m, OPE) and m.reparam_conv is None)
                or (isinstance(m, BasicBlock) and m.gamma_1 is not None)
                or (isinstance(m, CornerHead) and m.fused is None)
            ):
                m.reparameterize()
        return self
