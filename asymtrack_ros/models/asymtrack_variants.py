"""AsymTrack's variants and the deployment contract of each, free of torch: running an
exported graph needs these and not the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contracts.spec import ModelSpec


@dataclass(frozen=True)
class AsymTrackVariant:
    name: str
    template_size: int
    search_size: int
    stage3_ratios: tuple[int, ...]

    @property
    def feat_size(self) -> int:
        return self.search_size // 32


VARIANTS: dict[str, AsymTrackVariant] = {
    "tiny": AsymTrackVariant("tiny", 128, 256, (1,)),
    "small": AsymTrackVariant("small", 128, 256, (1, 6, 1)),
    "base": AsymTrackVariant("base", 192, 384, (1, 6, 1)),
}

# Names of the template-cache tensors, in the order the ONNX graphs carry them.
CACHE_NAMES = ("etm_params_s2", "etm_params_s3", "attn_k", "attn_v")


def get_variant(name: str) -> AsymTrackVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown AsymTrack variant {name!r}; expected one of {sorted(VARIANTS)}") from None


def model_spec(variant: str | AsymTrackVariant, precision: str = "fp32") -> ModelSpec:
    """The deployment contract of a variant: input sizes and the reference crop factors."""
    v = variant if isinstance(variant, AsymTrackVariant) else get_variant(variant)
    return ModelSpec(
        family="asymtrack",
        variant=v.name,
        template_size=v.template_size,
        search_size=v.search_size,
        template_factor=2.0,
        search_factor=4.0,
        cache_names=CACHE_NAMES,
        outputs=("boxes", "score", "corner_logits"),
        precision=precision,
    )
