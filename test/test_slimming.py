"""Slimming AsymTrack's expanded blocks: the slim form, the refit, the file round trip and
the exported graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import asym_io

from asymtrack_ros.cli import main
from asymtrack_ros.deploy.export import export_onnx
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.models.asymtrack import AsymTrack
from asymtrack_ros.models.asymtrack_blocks import ModulationMlp
from asymtrack_ros.models.asymtrack_variants import model_spec
from asymtrack_ros.models.checkpoint import load_checkpoint
from asymtrack_ros.models.safe_pickle import CheckpointError
from asymtrack_ros.models.slimming import refit_error, slim, slim_block
from asymtrack_ros.sampling.pairs import Augment, PairDataset, collate, to_input
from asymtrack_ros.sampling.synthetic import SyntheticSource
from asymtrack_ros.training.asymtrack_objective import init_from

WIDTHS = {(0, 1): 48, (1, 1): 96}


def _pairs(net, count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    data = PairDataset([SyntheticSource(procedural=True)], [1.0], net.variant, Augment(), seed=seed, length=count)
    batch = collate([data[i] for i in range(count)])
    return [(to_input(batch["template"]), to_input(batch["search"]))]


@pytest.fixture(scope="module")
def slimmed(tiny_checkpoint: Path):
    net = load_checkpoint(tiny_checkpoint, "tiny")
    return net, slim(net, WIDTHS, _pairs(net, 12, seed=0))


def test_a_slim_block_of_every_unit_is_the_reference_block() -> None:
    torch.manual_seed(0)
    ref = ModulationMlp(32, 6).eval()
    every = slim_block(ref, torch.arange(192), ref.fc2.weight, ref.fc2.bias)
    x = torch.randn(2, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(every(x, (8, 8)), ref(x, (8, 8)), atol=1e-5, rtol=0)
    assert every.hidden == 192 and every.context_layer.g.out_features == 192


def test_slimming_keeps_the_asked_units_and_the_refit_beats_the_cut_alone(slimmed) -> None:
    net, small = slimmed
    assert small.slim == WIDTHS and net.slim == {}
    for (stage, block), width in WIDTHS.items():
        mlp = small.backbone.layers[stage].blocks[block].mlp
        assert (mlp.fc1.out_features, mlp.context_layer.g.out_features, mlp.fc2.in_features) == (width,) * 3
    cut = slim(net, WIDTHS, _pairs(net, 12, seed=0), refit=False)  # the same units, fc2 columns kept
    held_back = _pairs(net, 6, seed=5)
    refit, alone = refit_error(net, small, held_back), refit_error(net, cut, held_back)
    assert 0 < refit < alone < 1


def test_a_slim_file_loads_back_with_its_widths_and_outputs(tmp_path: Path, slimmed) -> None:
    _, small = slimmed
    path = tmp_path / "slim.pth"
    torch.save({"variant": "tiny", "net": small.state_dict()}, path)
    back = load_checkpoint(path)
    assert back.slim == WIDTHS
    template, search = _pairs(small, 2, seed=3)[0]
    with torch.no_grad():
        a = small.track(search, small.encode_template(template))
        b = back.track(search, back.encode_template(template))
    torch.testing.assert_close(a["boxes"], b["boxes"])
    # A training run builds the reference widths: starting it from a slim file is refused.
    with pytest.raises(CheckpointError, match="slimmed blocks"):
        init_from(AsymTrack("tiny").eval(), path)


def test_the_slim_network_exports_and_onnxruntime_matches_torch(tmp_path: Path, slimmed) -> None:
    _, small = slimmed
    io = asym_io("tiny")
    example = {"template": torch.from_numpy(io["template"][:1]), "search": torch.from_numpy(io["search"][:1])}
    engine = OnnxEngine(export_onnx(small, model_spec("tiny"), tmp_path / "onnx", example), providers=["cpu"])
    t, s = io["template"][1:2], io["search"][1:2]
    got = engine.track({"search": s}, engine.encode_template({"template": t}))
    with torch.no_grad():
        ref = small.track(torch.from_numpy(s), small.encode_template(torch.from_numpy(t)))
    np.testing.assert_allclose(got["boxes"], ref["boxes"].numpy(), atol=2e-4, rtol=0)


def test_slim_command_writes_a_checkpoint_and_refuses_bad_widths(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    config = tmp_path / "crops.yaml"
    config.write_text("data:\n  sources:\n    - {type: synthetic, procedural: true}\n")
    out = tmp_path / "slim.pth"
    args = ["slim", str(tiny_checkpoint), "--config", str(config), "--pairs", "8", "--out", str(out)]
    assert main([*args, "--widths", "64,0"]) == 0
    assert '"feature_change"' in capsys.readouterr().out
    assert load_checkpoint(out).slim == {(0, 1): 64}
    for widths, message in (("64", "2 expanded blocks"), ("a,b", "integers"), ("400,0", "cannot keep 400")):
        assert main([*args, "--widths", widths]) != 0
        assert message in capsys.readouterr().err
    assert main(["slim", str(out), "--config", str(config), "--widths", "32,0", "--out", str(tmp_path / "x.pth")]) != 0
    assert "already slimmed" in capsys.readouterr().err
