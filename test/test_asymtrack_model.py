"""AsymTrack against the outputs of the original implementation (../shared/fixtures)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ASYM_FIXTURES, asym_io

from asymtrack_ros.models.asymtrack import AsymTrack
from asymtrack_ros.models.asymtrack_variants import CACHE_NAMES
from asymtrack_ros.models.checkpoint import load_checkpoint, state_dict_of
from asymtrack_ros.models.safe_pickle import read_checkpoint

VARIANTS = ("tiny", "small", "base")


@pytest.mark.parametrize("variant", VARIANTS)
def test_template_once_matches_reference_deploy_outputs(variant: str) -> None:
    io = asym_io(variant)
    net = load_checkpoint(ASYM_FIXTURES / f"{variant}.pth.tar", variant)
    with torch.no_grad():
        cache = net.encode_template(torch.from_numpy(io["template"]))
        out = net.track(torch.from_numpy(io["search"]), cache)
        feat, _ = net.search_features(torch.from_numpy(io["search"]), cache)
    np.testing.assert_allclose(out["boxes"].numpy(), io["boxes_deploy"][:, 0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(
        feat.reshape(io["search_features_deploy"].shape).numpy(), io["search_features_deploy"], atol=1e-3, rtol=0
    )
    score = out["score"].numpy()
    assert score.shape == (2,) and np.all((score >= 0) & (score <= 1))
    assert set(cache) == set(CACHE_NAMES)


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_form_joint_pass_matches_reference(variant: str) -> None:
    io = asym_io(variant)
    net = AsymTrack(variant).eval()
    net.load_state_dict(
        state_dict_of(read_checkpoint(ASYM_FIXTURES / f"{variant}.pth.tar"), ASYM_FIXTURES), strict=True
    )
    with torch.no_grad():
        out = net(torch.from_numpy(io["template"]), torch.from_numpy(io["search"]))
    np.testing.assert_allclose(out["boxes"].numpy(), io["boxes_train_form"][:, 0], atol=1e-4, rtol=0)


def test_reinitialising_is_exact_and_network_keeps_no_state(tiny_checkpoint) -> None:
    io = asym_io("tiny")
    net = load_checkpoint(tiny_checkpoint, "tiny")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    a, b = torch.from_numpy(io["template"][:1]), torch.from_numpy(io["template"][1:])
    search = torch.from_numpy(io["search"][:1])
    with torch.no_grad():
        first = net.track(search, net.encode_template(a))["boxes"]
        other = net.track(search, net.encode_template(b))["boxes"]
        again = net.track(search, net.encode_template(a))["boxes"]
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_track_runs_no_template_computation(tiny_checkpoint) -> None:
    """Modules that only the template stream uses must not run inside track()."""
    net = load_checkpoint(tiny_checkpoint, "tiny")
    io = asym_io("tiny")
    with torch.no_grad():
        cache = net.encode_template(torch.from_numpy(io["template"][:1]))
    called: list[str] = []
    hooks = []
    for name, module in net.named_modules():
        if name.endswith(("pre_kernels", "conv_att.weight_linear")):
            hooks.append(module.register_forward_hook(lambda m, i, o, n=name: called.append(n)))
    with torch.no_grad():
        net.track(torch.from_numpy(io["search"][:1]), cache)
    for h in hooks:
        h.remove()
    assert called == []


def test_deploy_form_parameter_count_matches_paper() -> None:
    for variant, millions in (("tiny", 3.24), ("small", 3.55), ("base", 3.55)):
        net = AsymTrack(variant).reparameterize()
        assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(millions, abs=0.01)
