"""SEAT against the outputs of the original implementation (../shared/fixtures/seat)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from seat_common import PARITY_KEYS, checkpoint, one_torch_thread, seat_io, seat_net

from asymtrack_ros.models.safe_pickle import CheckpointError
from asymtrack_ros.models.seat.arch import ArchError, arch_from_original, builtin_arch, load_arch
from asymtrack_ros.models.seat.checkpoint import load_seat_checkpoint, save_seat_checkpoint
from asymtrack_ros.models.seat.net import CACHE_NAMES, SeatNet
from asymtrack_ros.models.seat.roi_align import RoiAlignOp, roi_align_reference, roi_align_weights


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


STRIDE = {"lt": 16, "al": 8}


def _intermediates(net: SeatNet, io: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    t = {k: torch.from_numpy(io[k]) for k in ("template", "search", "template_box")}
    with torch.no_grad():
        cache = net.encode_template(t["template"], t["template_box"])
        xf = net.features(t["search"])
        z = net.match.t_embed(net.features(t["template"]))
        merged = net.match(xf, cache)
        rfm = merged
        for block in net.fuse:
            rfm = block(rfm)
        cls, reg = net.prediction(net.collector(rfm))
        pooled = net.match.pool_template(z, t["template_box"])
        corr = net.match.correlate(xf, cache)
    return {
        "neck_search_feat": xf,
        "cfm_roi_align": pooled,
        "cfm_template_vec": cache["template_vec"],
        "cfm_correlation": corr,
        "cfm_out": merged,
        "rfm_out": rfm,
        "cls": cls,
        "reg": reg,
    }


@pytest.mark.parametrize("variant", ["lt", "al"])
def test_outputs_and_intermediates_match_original(variant: str) -> None:
    io = seat_io(variant)
    got = _intermediates(seat_net(variant), io)
    np.testing.assert_allclose(got["cls"].numpy(), io["cls"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["reg"].numpy(), io["reg"], atol=1e-4, rtol=0)
    for key in PARITY_KEYS:  # float32 noise grows with the magnitudes: relative bound
        scale = float(np.abs(io[key]).max())
        np.testing.assert_allclose(got[key].numpy(), io[key], atol=2e-5 * scale, rtol=0, err_msg=key)


@pytest.mark.parametrize("variant", ["lt", "al"])
def test_roi_align_matches_torchvision_reference(variant: str) -> None:
    """The fixture's stand-alone torchvision.ops.roi_align calls, incl. boxes partly outside."""
    io = seat_io(variant)
    feat, rois, ref = (torch.from_numpy(io[f"extra_roialign_{k}"]) for k in ("feat", "rois", "out"))
    scale = 1.0 / STRIDE[variant]
    np.testing.assert_allclose(roi_align_reference(feat, rois, 3, scale).numpy(), ref.numpy(), atol=1e-5, rtol=0)
    # the op-free weight form (NPU graphs) on the same boxes
    weights = roi_align_weights(rois[:, 1:], feat.shape[2], feat.shape[3], 3, scale, max_grid=8)
    pooled = torch.einsum("kph,kch->kcp", weights, feat[rois[:, 0].long()].flatten(2)).reshape(ref.shape)
    np.testing.assert_allclose(pooled.numpy(), ref.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", ["lt", "al"])
def test_roi_align_onnx_op_matches(variant: str, tmp_path: Path) -> None:
    io = seat_io(variant)
    feat, rois = torch.from_numpy(io["extra_roialign_feat"]), torch.from_numpy(io["extra_roialign_rois"])
    scale = 1.0 / STRIDE[variant]

    class Graph(torch.nn.Module):
        def forward(self, f: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return RoiAlignOp.apply(f, r, 3, scale)

    path = tmp_path / "roi.onnx"
    torch.onnx.export(Graph(), (feat, rois), str(path), dynamo=False, opset_version=17, input_names=["f", "r"])
    assert [n.op_type for n in onnx.load(str(path)).graph.node if n.op_type == "RoiAlign"] == ["RoiAlign"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"f": io["extra_roialign_feat"], "r": io["extra_roialign_rois"]})
    np.testing.assert_allclose(got, io["extra_roialign_out"], atol=1e-5, rtol=0)


def test_template_branch_runs_once_and_cache_is_complete() -> None:
    net = seat_net("al")
    io = seat_io("al")
    with torch.no_grad():
        cache = net.encode_template(torch.from_numpy(io["template"][:1]), torch.from_numpy(io["template_box"][:1]))
    assert tuple(cache) == CACHE_NAMES
    called: list[str] = []
    hooks = [
        m.register_forward_hook(lambda *_, n=n: called.append(n))
        for n, m in net.named_modules()
        if n in ("match.t_embed", "match.spatial_conv", "match.weight", "match.bias")
    ]
    with torch.no_grad():
        net.track(torch.from_numpy(io["search"][:1]), cache)
    for h in hooks:
        h.remove()
    assert called == []


def test_original_arch_string_builds_the_configured_networks() -> None:
    for variant in ("lt", "al"):
        ckpt = torch.load(checkpoint(variant), weights_only=True)
        assert arch_from_original(ckpt["arch"]) == builtin_arch(variant)
    assert sum(p.numel() for p in seat_net("lt").parameters()) == 12291066
    assert sum(p.numel() for p in seat_net("al").parameters()) == 11528106


def test_own_checkpoints_round_trip(tmp_path: Path) -> None:
    net = seat_net("al")
    path = save_seat_checkpoint(net, tmp_path / "al.pth")
    again = load_seat_checkpoint(path, "al")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in net.state_dict().items())


def _arch_file(tmp_path: Path, edit) -> Path:
    data = json.loads(Path(builtin_arch("lt").to_json(tmp_path / "a.json") or tmp_path / "a.json").read_text())
    edit(data)
    (tmp_path / "a.json").write_text(json.dumps(data))
    return tmp_path / "a.json"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["blocks"][0].update(head_op="wavemlp_k9_t4"), r"blocks\[0\]: unknown op 'wavemlp_k9_t4'"),
        (lambda d: d["blocks"][0].update(stack_ops=["conv3x3"]), r"unknown op 'conv3x3'; known: wavemlp_k3_t4"),
        (lambda d: d.update(backbone="ResNet"), "unknown backbone 'ResNet'"),
        (lambda d: d.update(collector=[320, 256]), "collector input 320 != last block output 384"),
        (lambda d: d.update(cfm_hidden=49), "cfm_hidden 49 must equal the template feature cells"),
        (lambda d: d.pop("tracker"), "missing key 'tracker'"),
        (lambda d: d.update(neck="96x256"), "'neck' must be list"),
        (lambda d: d.update(format="v0"), "'format' must be 'seat-arch/1'"),
        (lambda d: d.update(extra_key=1), r"unknown keys \['extra_key'\]"),
    ],
)
def test_bad_architecture_descriptions_are_named(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(ArchError, match=message):
        load_arch(_arch_file(tmp_path, edit))


def test_unreadable_architecture_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ArchError, match="bad.json: not valid JSON"):
        load_arch(tmp_path / "bad.json")
    with pytest.raises(ArchError, match="unknown SEAT variant 'xl'"):
        builtin_arch("xl")


def test_mismatched_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint is SEAT-al \(AlexNet.*asked for SEAT-lt \(LightTrack"):
        load_seat_checkpoint(checkpoint("al"), "lt")
    ckpt = torch.load(checkpoint("al"), weights_only=True)
    ckpt["state_dict"].pop("prediction.adjust")
    ckpt["state_dict"]["fuse.0.extra.weight"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "keys.pth")
    with pytest.raises(CheckpointError, match=r"1 missing, e.g. \['prediction.adjust'\]; 1 unexpected"):
        load_seat_checkpoint(tmp_path / "keys.pth")
    ckpt = torch.load(checkpoint("al"), weights_only=True)
    ckpt["state_dict"]["match.simple.0.weight"] = torch.zeros(256, 49, 1, 1)
    torch.save(ckpt, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"shapes differ .*'match.simple.0.weight \(256, 49, 1, 1\) vs \(256, 36"):
        load_seat_checkpoint(tmp_path / "shape.pth")
    torch.save({"net": {}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a SEAT checkpoint"):
        load_seat_checkpoint(tmp_path / "other.pth")
