"""SEAT's ONNX deployment: contract, onnxruntime parity with torch, the NPU-friendly form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import onnx
import pytest
import torch
from conftest import SHARED
from seat_common import EXPORT_CACHE, checkpoint, one_torch_thread, sample, seat_io, seat_net, seat_onnx

from asymtrack_ros.cli import main
from asymtrack_ros.deploy.seat import NPU_AVOIDED, export_seat, op_census
from asymtrack_ros.engines.factory import load_engine
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.engines.torch_engine import TorchEngine
from asymtrack_ros.models.seat.arch import builtin_arch, load_arch
from asymtrack_ros.models.seat.net import CACHE_NAMES, SeatNet


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def test_graph_names_and_model_json() -> None:
    out = seat_onnx("al")
    template = onnx.load(str(out / "template.onnx"))
    search = onnx.load(str(out / "search.onnx"))
    assert [i.name for i in template.graph.input] == ["template", "template_box"]
    assert [o.name for o in template.graph.output] == list(CACHE_NAMES)
    assert [i.name for i in search.graph.input] == ["search", *CACHE_NAMES]
    assert [o.name for o in search.graph.output] == ["cls", "reg"]
    meta = json.loads((out / "model.json").read_text())
    assert (meta["family"], meta["variant"], meta["template_size"], meta["search_size"]) == ("seat", "al", 127, 287)
    assert meta["mean"] == [0.0, 0.0, 0.0] and meta["std"] == [1.0, 1.0, 1.0] and meta["pixel_scale"] == 1.0
    assert meta["extra"]["channel_order"] == "bgr" and meta["extra"]["search_size_big"] == 303
    assert op_census(out)["template"].get("RoiAlign") == 1


@pytest.mark.parametrize("variant", ["lt", "al"])
def test_onnxruntime_matches_torch_and_original(variant: str) -> None:
    io = seat_io(variant)
    ort_engine = OnnxEngine(seat_onnx(variant), providers=["cpu"], threads=1)
    torch_engine = TorchEngine(seat_net(variant), seat_net(variant).spec())
    assert ort_engine.provider == "CPUExecutionProvider"
    for i in range(2):
        t, s = sample(io, i)
        got = ort_engine.track(s, ort_engine.encode_template(t))
        ref = torch_engine.track(s, torch_engine.encode_template(t))
        for key in ("cls", "reg"):
            np.testing.assert_allclose(got[key], ref[key], atol=2e-4, rtol=0)
            np.testing.assert_allclose(got[key], io[key][i : i + 1], atol=2e-4, rtol=0)


def test_search_graph_takes_the_small_target_search_size() -> None:
    """Natural-image statistics matter here: upscale the fixture search crop to big_sz."""
    io = seat_io("al")
    t, s = sample(io, 0)
    big = seat_net("al").arch.tracker.big_sz
    s = {"search": cv2.resize(s["search"][0].transpose(1, 2, 0), (big, big)).transpose(2, 0, 1)[None].copy()}
    ort_engine = OnnxEngine(seat_onnx("al"), providers=["cpu"], threads=1)
    torch_engine = TorchEngine(seat_net("al"), seat_net("al").spec())
    got = ort_engine.track(s, ort_engine.encode_template(t))
    ref = torch_engine.track(s, torch_engine.encode_template(t))
    assert got["cls"].shape == (1, 1, 28, 28)
    for key in ("cls", "reg"):
        np.testing.assert_allclose(got[key], ref[key], atol=2e-4, rtol=0)


def test_npu_friendly_export_is_exact_and_free_of_hostile_ops(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "npu"
    assert main(["export", str(checkpoint("al")), "--out", str(out), "--npu-friendly"]) == 0
    printed = capsys.readouterr().out
    assert "exported NPU-friendly SEAT-al" in printed and "NPU-hostile none" in printed
    assert float(printed.split("max |diff| ")[1].split(")")[0]) < 2e-4
    assert {p.name for p in out.iterdir()} == {"template.onnx", "search.onnx", "model.json"}
    for graph, ops in op_census(out).items():
        assert not set(ops) & set(NPU_AVOIDED), (graph, ops)
    meta = json.loads((out / "model.json").read_text())
    assert meta["extra"]["npu_friendly"] and meta["extra"]["search_size_big"] is None
    io = seat_io("al")
    engine = OnnxEngine(out, providers=["cpu"], threads=1)
    for i in range(2):
        t, s = sample(io, i)
        got = engine.track(s, engine.encode_template(t))
        for key in ("cls", "reg"):
            np.testing.assert_allclose(got[key], io[key][i : i + 1], atol=2e-4, rtol=0)
    search = onnx.load(str(out / "search.onnx"))
    assert all(d.dim_value > 0 for d in search.graph.input[0].type.tensor_type.shape.dim)  # static


def test_load_engine_dispatches_on_the_checkpoint_family(monkeypatch) -> None:
    seat_onnx("al")
    exported = sorted((EXPORT_CACHE / "onnx").iterdir())
    monkeypatch.setenv("ASYMTRACK_CACHE", str(EXPORT_CACHE))
    eng = load_engine(checkpoint("al"), "torch")
    assert (eng.name, eng.spec.family, eng.spec.variant) == ("torch", "seat", "al")
    eng = load_engine(checkpoint("al"), "onnxruntime", providers=["cpu"])
    assert (eng.name, eng.spec.family) == ("onnxruntime", "seat")
    assert sorted((EXPORT_CACHE / "onnx").iterdir()) == exported  # reused, not exported again
    with pytest.raises(ValueError, match="checkpoint is SEAT-al"):
        load_engine(checkpoint("al"), "torch", variant="lt")


def test_fp16_template_branch_keeps_roi_align_in_fp32() -> None:
    net = seat_net("al")
    io = seat_io("al")
    with torch.no_grad():
        z = net.match.t_embed(net.features(torch.from_numpy(io["template"][:1])))
        pooled = net.match.pool_template(z.half(), torch.from_numpy(io["template_box"][:1]).half())
    assert pooled.dtype == torch.float16
    np.testing.assert_allclose(pooled.float().numpy(), io["cfm_roi_align"][:1], atol=5e-3, rtol=0)


def test_bench_table_reports_latency_params_and_macs() -> None:
    from asymtrack_ros.benchmarks.side_by_side import format_table, run_table

    report = run_table(frames=1, models=["seat-al"], threads=1)
    m = report["models"]["seat-al"]
    # the original's per-frame count (10.030 G) includes the template-side CFM convs cached here
    assert m["params_m"] == 11.53 and m["gmacs_search"] == pytest.approx(10.027, abs=1e-3)
    assert m["median_ms"] > 0 and "| seat-al | 11.53 |" in format_table(report)


def test_bench_table_sets_a_searched_architecture_beside_the_published(tmp_path) -> None:
    from asymtrack_ros.benchmarks.side_by_side import run_table

    d = builtin_arch("lt").to_dict()
    d.update(variant="lt-searched", collector=[256, 256])
    d["blocks"] = [dict(in_channels=256, out_channels=256, head_op="wavemlp_k3_t4_dw", stack_ops=[])]
    (tmp_path / "found.json").write_text(json.dumps(d))
    found_arch = load_arch(tmp_path / "found.json")
    report = run_table(frames=1, models=["seat-lt"], threads=1, seat_archs={"seat-lt-searched": found_arch})
    published, found = report["models"]["seat-lt"], report["models"]["seat-lt-searched"]
    assert found["median_ms"] > 0 and found["params_m"] < published["params_m"]  # a narrower neck
    assert found["gmacs_search"] < published["gmacs_search"]
    with pytest.raises(SystemExit, match="--seat-arch goes with --all"):
        main(["bench", "--seat-arch", str(tmp_path / "found.json")])


def test_bench_table_counts_the_peers_like_our_models(tmp_path) -> None:
    """The peers' MACs come from their ONNX graphs, quantised ones (LightFC's QLinearConv)
    included; the same count on our exported search graph agrees with torch's count of the
    network, and AsymTrack-T's int8 graph is timed beside its fp32 one.
    """
    from asymtrack_ros.benchmarks.onnx_cost import onnx_cost
    from asymtrack_ros.benchmarks.side_by_side import format_table, run_table

    models = ["seat-al", "asymtrack-tiny", "asymtrack-tiny-int8"]
    report = run_table(frames=1, models=models, threads=1, peers=SHARED / "peers")
    rows = report["models"]
    nano, vit, lightfc = rows["nanotrack-v2"], rows["vittrack"], rows["lightfc-w8a8"]
    assert nano["params_m"] == 0.33 and nano["gmacs_search"] == pytest.approx(0.078, abs=1e-3)
    assert vit["params_m"] == 0.17 and vit["gmacs_search"] == pytest.approx(0.085, abs=1e-3)
    # LightFC per frame: its tracking graph (search backbone, fusion, head); once: the template backbone.
    assert lightfc["params_m"] == 3.73 and lightfc["gmacs_search"] == pytest.approx(0.919, abs=1e-3)
    assert lightfc["gmacs_template"] == pytest.approx(0.069, abs=1e-3)
    assert rows["asymtrack-tiny-int8"]["gmacs_search"] == rows["asymtrack-tiny"]["gmacs_search"]
    assert all(rows[m]["median_ms"] > 0 for m in rows)
    assert "| vittrack | 0.17 |" in format_table(report) and "| lightfc-w8a8 | 3.73 |" in format_table(report)
    export_seat(SeatNet(builtin_arch("al")).eval(), tmp_path / "al")
    arch = builtin_arch("al")
    counted = onnx_cost(tmp_path / "al" / "search.onnx", {"search": (1, 3, arch.search_size, arch.search_size)})
    assert counted["gmacs"] == pytest.approx(report["models"]["seat-al"]["gmacs_search"], rel=0.01)
    assert 10.0 < counted["params"] / 1e6 < 11.53  # the template branch's own weights are not in it
