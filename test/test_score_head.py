"""The optional learned score head: official checkpoints keep the derived score, files
with the head load strictly with it, and the ONNX contract is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from conftest import asym_io

from asymtrack_ros.deploy.export import export_onnx
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.models.asymtrack import AsymTrack
from asymtrack_ros.models.asymtrack_blocks import to_nchw
from asymtrack_ros.models.asymtrack_variants import model_spec
from asymtrack_ros.models.checkpoint import load_checkpoint


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    io = asym_io("tiny")
    return torch.from_numpy(io["template"][:1]), torch.from_numpy(io["search"][:1])


def test_official_checkpoint_has_no_head_and_derives_the_score(tiny_checkpoint: Path) -> None:
    net = load_checkpoint(tiny_checkpoint, "tiny")
    assert net.score_head is None
    template, search = _inputs()
    with torch.no_grad():
        cache = net.encode_template(template)
        feat, hw = net.search_features(search, cache)
        _, derived, _ = net.box_head(to_nchw(net.bottleneck(feat), hw))
        assert torch.equal(net.track(search, cache)["score"], derived)


def test_checkpoint_with_head_loads_strictly_and_scores_with_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    train_form = AsymTrack("tiny", score_head=True).eval()
    with torch.no_grad():
        train_form.score_head.fc.bias.fill_(2.0)
    path = tmp_path / "with_head.pth.tar"
    torch.save({"net": train_form.state_dict(), "variant": "tiny"}, path)
    net = load_checkpoint(path)
    assert net.score_head is not None
    template, search = _inputs()
    with torch.no_grad():
        ref = train_form(template, search)
        got = net.track(search, net.encode_template(template))
    torch.testing.assert_close(got["boxes"], ref["boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(got["score"], ref["score"], atol=1e-5, rtol=0)
    assert 0.5 < float(got["score"][0]) < 1.0  # sigmoid of the learned logit, not the peak mass


def test_onnx_export_with_head_keeps_the_contract(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = AsymTrack("tiny", score_head=True).reparameterize().eval()
    template, search = _inputs()
    out = export_onnx(net, model_spec("tiny"), tmp_path / "m", {"template": template, "search": search})
    graph = onnx.load(str(out / "search.onnx"))
    assert [o.name for o in graph.graph.output] == ["boxes", "score", "corner_logits"]
    engine = OnnxEngine(out, providers=["cpu"])
    got = engine.track({"search": search.numpy()}, engine.encode_template({"template": template.numpy()}))
    with torch.no_grad():
        ref = net.track(search, net.encode_template(template))
    np.testing.assert_allclose(got["score"], ref["score"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["boxes"], ref["boxes"].numpy(), atol=2e-4, rtol=0)
