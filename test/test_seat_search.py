"""The SEAT search at toy scale, end to end, and its parts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from seat_common import one_torch_thread

from asymtrack_ros.cli import main
from asymtrack_ros.models.seat.arch import SKIP, ArchError, arch_from_dict, builtin_arch, load_arch
from asymtrack_ros.models.seat.net import SeatNet
from asymtrack_ros.search import latency
from asymtrack_ros.search.cli import _source
from asymtrack_ros.search.data import ProceduralPairs, SeatPairs, targets
from asymtrack_ros.search.derive import derive_arch, viterbi_path
from asymtrack_ros.search.loss import task_loss
from asymtrack_ros.search.run import build_sources
from asymtrack_ros.search.space import SearchSpace, build_graph
from asymtrack_ros.search.supernet import Supernet


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


OPS = ("wavemlp_k3_t4", "wavemlp_k5_t4_dw")
TOY_SPACE = SearchSpace(widths=(16, 24, 32), stack_layers=2, head_ops=OPS, stack_ops=OPS + (SKIP,))


def toy_base(tmp_path: Path) -> Path:
    """SEAT-lt's backbone on 64 / 128 px crops with 32-channel fusion and head."""
    d = builtin_arch("lt").to_dict()
    d.update(
        variant="toy", template_size=64, search_size=128, neck=[96, 32], cfm_channels=32, cfm_hidden=16, cfm_out=32,
        blocks=[], collector=[32, 32], head_channels=32, head_groups=8, head_tower=2,
    )  # fmt: skip
    d["tracker"].update(small_sz=128, big_sz=160)
    (tmp_path / "toy.json").write_text(json.dumps(d))
    return tmp_path / "toy.json"


def test_graph_is_the_dense_one_of_the_paper() -> None:
    g = build_graph(SearchSpace(), 256, 256)
    assert g.channels == (256, 256, 320, 384, 256)
    assert g.out_edges == ((1, 2, 3), (2, 3, 4), (3, 4), (4,), ())
    assert g.in_edges[4] == (1, 2, 3) and g.in_edges[3] == (0, 1, 2)


def test_search_end_to_end_writes_an_architecture_that_builds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, out, lut = toy_base(tmp_path), tmp_path / "found.json", tmp_path / "lut.json"
    args = ["search", "--base", str(base), "--out", str(out), "--widths", "16,24,32", "--stack-layers", "2",
            "--ops", ",".join(OPS), "--epochs", "2", "--arch-epoch", "1", "--warmup", "1", "--samples", "8",
            "--batch", "2", "--workers", "0", "--latency-backend", "torch", "--lut", str(lut),
            "--lut-repeats", "1"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    arch = load_arch(out)
    assert summary["out"] == str(out) and arch.variant == "toy-searched"
    assert all(b.head_op in OPS and set(b.stack_ops) <= set(OPS) for b in arch.blocks)
    history = arch.notes["search"]["history"]
    assert len(history) == 2 and "arch_loss" not in history[0] and "arch_loss" in history[1]
    search = arch.notes["search"]
    assert search["data"] == [{"type": "procedural"}] and search["latency_factor"] == 0.15
    assert all(h["expected_latency_ms"] > 0 for h in history)
    table = json.loads(lut.read_text())["tables"]
    (entries,) = table.values()
    assert summary["latency_ms"] == pytest.approx(latency.arch_latency(arch, entries), abs=1e-3)
    assert summary["base_latency_ms"] == pytest.approx(latency.arch_latency(load_arch(base), entries), abs=1e-3)
    assert len(entries) == len(latency.required_entries(arch, TOY_SPACE))
    net = SeatNet(arch).eval()
    with torch.no_grad():
        cache = net.encode_template(torch.rand(1, 3, 64, 64) * 255, torch.tensor([[16.0, 20.0, 48.0, 44.0]]))
        res = net.track(torch.rand(1, 3, 128, 128) * 255, cache)
    assert res["cls"].shape == (1, 1, 8, 8) and res["reg"].shape == (1, 4, 8, 8)


def test_latency_table_is_cached_per_machine(tmp_path: Path, monkeypatch) -> None:
    base = load_arch(toy_base(tmp_path))
    space = SearchSpace(widths=(16,), stack_layers=1, head_ops=OPS[:1], stack_ops=(OPS[0], SKIP))
    lut = latency.measure_lut(base, space, tmp_path / "lut.json", "torch", repeats=1, warmup=0)
    assert set(lut) == set(latency.required_entries(base, space)) and all(v > 0 for v in lut.values())
    monkeypatch.setattr(latency, "_median_ms", lambda *a: pytest.fail("measured again"))
    assert latency.measure_lut(base, space, tmp_path / "lut.json", "torch") == lut
    name = next(iter(json.loads((tmp_path / "lut.json").read_text())["tables"]))
    assert latency.measure_lut(base, space, tmp_path / "lut.json", table_name=name) == lut  # measured elsewhere
    with pytest.raises(ValueError, match="table 'jetson' lacks 5 entries"):
        latency.measure_lut(base, space, tmp_path / "lut.json", table_name="jetson")
    with pytest.raises(ValueError, match="unknown latency backend"):
        latency.measure_lut(base, space, None, "tflite")


def test_an_architecture_is_priced_op_by_op(tmp_path: Path) -> None:
    arch = load_arch(toy_base(tmp_path))
    d = arch.to_dict()
    d["blocks"] = [dict(in_channels=32, out_channels=24, head_op=OPS[0], stack_ops=[OPS[1], OPS[1]])]
    d["collector"] = [24, 32]
    found = arch_from_dict(d, "found")
    res = arch.search_feat()
    lut = {
        latency.static_key(arch): 10.0,
        latency.collector_key(24, 32, res): 0.5,
        latency.op_key(OPS[0], 32, 24, res): 2.0,
        latency.op_key(OPS[1], 24, 24, res): 1.25,
    }
    assert latency.arch_latency(found, lut) == pytest.approx(10.0 + 0.5 + 2.0 + 2 * 1.25)
    with pytest.raises(KeyError):  # the base's collector (32 > 32) is not in this table
        latency.arch_latency(arch, lut)


def test_a_table_measured_on_a_busy_machine_is_warned_about() -> None:
    assert latency.busy_message(0.9, 2) is None
    message = latency.busy_message(3.4, 2)
    assert message is not None and "load average 3.4 on 2 cores" in message and "quiet machine" in message


def test_onnxruntime_timer_runs_an_op() -> None:
    from asymtrack_ros.models.seat.ops import build_op

    run = latency._timer(build_op("wavemlp_k3_t4_dw", 16, 16), (torch.randn(1, 16, 8, 8),), "onnxruntime", "cpu", 1)
    assert latency._median_ms(run, 2, 1) > 0


def test_sampling_rescale_and_expected_latency(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Supernet(load_arch(toy_base(tmp_path)), TOY_SPACE)
    net.sample(2, torch.Generator().manual_seed(1))
    assert all(len(i) == 2 for i in net.head_index.values())
    before = net.snapshot()
    others = {k: a.detach().clone() for k, a in net.alpha_head.items()}
    with torch.no_grad():
        for a in net.alpha_head.values():
            a += torch.randn_like(a)
    net.rescale(before)
    for (k, a), old in zip(net.alpha_head.items(), before["head"]):
        idx = net.head_index[k]
        assert torch.allclose(torch.logsumexp(a[idx], 0), torch.logsumexp(old, 0), atol=1e-5)
        unsampled = [i for i in range(len(OPS)) if i not in idx.tolist()]
        assert torch.equal(a[unsampled], a[unsampled]) and others[k].shape == a.shape
    lut = {k: 1.0 for k in latency.required_entries(net.base, TOY_SPACE)}
    lat = net.expected_latency(lut)
    lat.backward()
    assert lat.item() > 1.0 and all(b.grad is not None for b in net.betas)


def test_viterbi_follows_the_most_probable_widths(tmp_path: Path) -> None:
    net = Supernet(load_arch(toy_base(tmp_path)), TOY_SPACE)
    with torch.no_grad():
        for b in net.betas:
            b.zero_()
        net.betas[0][2] = 5.0  # CFM -> H3
        net.alpha_head["0_3"][1] = 3.0
        net.alpha_stack[2][0, 2] = 3.0  # skip
        net.alpha_stack[2][1, 0] = 3.0
    assert viterbi_path(net) == [0, 3, 4]
    arch = derive_arch(net)
    assert [(b.in_channels, b.out_channels, b.head_op, b.stack_ops) for b in arch.blocks] == [
        (32, 32, OPS[1], (OPS[0],))
    ]
    assert arch.collector == (32, 32)


def test_pairs_and_targets_are_consistent(tmp_path: Path) -> None:
    arch = load_arch(toy_base(tmp_path))
    data = SeatPairs([ProceduralPairs()], arch, samples=4, seed=3)
    item = data[0]
    assert item["template"].shape == (3, 64, 64) and item["search"].shape == (3, 128, 128)
    assert torch.equal(item["template"], data[0]["template"])  # pure function of (seed, epoch, id)
    assert item["cls_label"].sum() > 0 and item["reg_weight"].sum() > 0
    t = targets(np.array([40.0, 40.0, 88.0, 88.0]), 128, 8, 16)
    assert t["cls_label"][4, 4] == 1 and t["cls_label"][0, 0] == 0
    np.testing.assert_allclose(t["reg_target"][4, 4], [24, 24, 24, 24])
    cls, reg = torch.zeros(1, 1, 8, 8), torch.from_numpy(t["reg_target"]).permute(2, 0, 1)[None]
    batch = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    loss, parts = task_loss(cls, reg, batch)
    assert parts["iou"] == pytest.approx(1.0) and loss.item() == pytest.approx(np.log(2), abs=1e-4)
    with pytest.raises(ValueError, match="split"):
        SeatPairs([ProceduralPairs()], arch, 1, split="test")


def test_data_sources_take_reader_options_so_the_validation_split_stays_out(shared: Path) -> None:
    root, split = shared / "train_sequences", Path(__file__).parents[1] / "config" / "real_val_sequences.txt"
    spec = _source(f"otb:{root},exclude={split}")
    assert spec == {"type": "otb", "root": str(root), "exclude": str(split)}
    (source,) = build_sources([spec])
    (everything,) = build_sources([_source(f"otb:{root}")])
    held_out = {f.name for f in everything.folders} - {f.name for f in source.folders}
    assert held_out == {"S1606", "Biker_uav", "wakeboard5", "car16_2", "group1_4", "Human7", "Jumping", "Skiing"}
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        _source("otb:root,exclude")
    with pytest.raises(ValueError, match="data source 'synthetic'"):
        build_sources([_source("synthetic,colour=blue")])


def test_bad_search_spaces_are_named() -> None:
    with pytest.raises(ArchError, match="unknown op 'mlp'"):
        SearchSpace(head_ops=("mlp",))
    with pytest.raises(ArchError, match="multiples of 4"):
        SearchSpace(widths=(30,))


def test_the_searched_architecture_on_record_builds_and_says_how_it_was_found() -> None:
    found = load_arch(Path(__file__).parents[1] / "config" / "seat_lt_searched.json")
    published = builtin_arch("lt")
    search = found.notes["search"]
    assert found.variant == "lt-searched" and len(search["history"]) == search["epochs"] == 6
    assert search["lut_table"].startswith("onnxruntime|")
    assert all(h["derived_blocks"] for h in search["history"])
    count = lambda arch: sum(p.numel() for p in SeatNet(arch).parameters())  # noqa: E731
    assert count(found) > count(published)  # the larger neck of docs/seat.md's table
