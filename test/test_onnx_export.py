"""The ONNX deployment contract and its parity with torch on onnxruntime CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import ASYM_FIXTURES, asym_io

from asymtrack_ros.cli import main
from asymtrack_ros.deploy.calibration import calibration_feeds
from asymtrack_ros.deploy.quantize import quantize_int8
from asymtrack_ros.engines.factory import load_engine
from asymtrack_ros.engines.onnx_engine import OnnxEngine, resolve_providers
from asymtrack_ros.engines.torch_engine import TorchEngine
from asymtrack_ros.files.resources import default_model_path
from asymtrack_ros.models.asymtrack_variants import CACHE_NAMES, model_spec
from asymtrack_ros.models.checkpoint import load_checkpoint


def test_graph_names_and_model_json(tiny_onnx: Path) -> None:
    template = onnx.load(str(tiny_onnx / "template.onnx"))
    search = onnx.load(str(tiny_onnx / "search.onnx"))
    assert [i.name for i in template.graph.input] == ["template"]
    assert [o.name for o in template.graph.output] == list(CACHE_NAMES)
    assert [i.name for i in search.graph.input] == ["search", *CACHE_NAMES]
    assert [o.name for o in search.graph.output] == ["boxes", "score", "corner_logits"]
    dims = [d.dim_value for d in template.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 128, 128]
    meta = json.loads((tiny_onnx / "model.json").read_text())
    assert meta["variant"] == "tiny" and meta["family"] == "asymtrack"
    assert (meta["template_size"], meta["search_size"]) == (128, 256)
    assert (meta["template_factor"], meta["search_factor"]) == (2.0, 4.0)
    assert meta["mean"] == [0.485, 0.456, 0.406] and meta["std"] == [0.229, 0.224, 0.225]
    assert meta["opset"] == 17 and meta["precision"] == "fp32"


def test_onnxruntime_matches_torch_and_reference(tiny_onnx: Path, tiny_checkpoint: Path) -> None:
    io = asym_io("tiny")
    ort_engine = OnnxEngine(tiny_onnx, providers=["cpu"])
    torch_engine = TorchEngine(load_checkpoint(tiny_checkpoint, "tiny"), model_spec("tiny"))
    for i in range(2):
        t, s = {"template": io["template"][i : i + 1]}, {"search": io["search"][i : i + 1]}
        got = ort_engine.track(s, ort_engine.encode_template(t))
        ref = torch_engine.track(s, torch_engine.encode_template(t))
        for key in ("boxes", "score"):
            np.testing.assert_allclose(got[key], ref[key], atol=2e-4, rtol=0)
        np.testing.assert_allclose(got["boxes"][0], io["boxes_deploy"][i, 0], atol=2e-4, rtol=0)
    assert ort_engine.provider == "CPUExecutionProvider"


def test_template_cache_can_be_swapped_between_frames(tiny_onnx: Path) -> None:
    io = asym_io("tiny")
    engine = OnnxEngine(tiny_onnx, providers=["cpu"])
    a = engine.encode_template({"template": io["template"][:1]})
    b = engine.encode_template({"template": io["template"][1:]})
    s = {"search": io["search"][:1]}
    first = engine.track(s, a)["boxes"].copy()
    engine.track(s, b)
    assert np.array_equal(engine.track(s, a)["boxes"], first)


def test_outputs_are_reused_buffers_holding_each_frames_values(tiny_onnx: Path) -> None:
    """No allocation per frame: the same arrays come back, each time with that frame's values."""
    import onnxruntime as ort

    io = asym_io("tiny")
    engine = OnnxEngine(tiny_onnx, providers=["cpu"])
    cache = engine.encode_template({"template": io["template"][:1]})
    plain_template = ort.InferenceSession(str(tiny_onnx / "template.onnx"), providers=["CPUExecutionProvider"])
    plain_search = ort.InferenceSession(str(tiny_onnx / "search.onnx"), providers=["CPUExecutionProvider"])
    feeds = dict(
        zip((o.name for o in plain_template.get_outputs()), plain_template.run(None, {"template": io["template"][:1]}))
    )
    names = [o.name for o in plain_search.get_outputs()]
    previous = None
    for i in range(2):
        search = io["search"][i : i + 1]
        got = engine.track({"search": search}, cache)
        expected = dict(zip(names, plain_search.run(None, {**feeds, "search": search})))
        assert previous is None or all(got[k] is previous[k] for k in names)
        for k in names:
            np.testing.assert_allclose(got[k], expected[k], atol=1e-6, rtol=0)
        previous = got


def test_token_layout_changes_fold_into_onnxruntimes_layout_reorders(tiny_onnx: Path, tmp_path: Path) -> None:
    """Tokens [B, H*W, C] become NCHW through NHWC (reshape, then a 4-D permute) and back:
    onnxruntime folds those permutes into its own conv layout changes, where a 3-D
    transpose next to a reshape stays a Transpose node per conversion (17 before, 5 now).
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(tiny_onnx / "search.onnx"), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    assert ops.count("Transpose") <= 6, ops.count("Transpose")


def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(ASYM_FIXTURES / "small.pth.tar"), "--out", str(tmp_path / "m")]) == 0
    assert "max |diff|" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"template.onnx", "search.onnx", "model.json"}
    assert json.loads((tmp_path / "m" / "model.json").read_text())["variant"] == "small"


def test_cli_export_error_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "m")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_provider_fallback_to_what_is_available() -> None:
    chosen = resolve_providers(["tensorrt", "cuda", "cpu"], fp16=True)
    assert chosen[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="unknown execution provider"):
        resolve_providers(["tpu"])


def test_engine_factory_exports_checkpoints_once(tmp_path: Path, tiny_checkpoint: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASYMTRACK_CACHE", str(tmp_path))
    engine = load_engine(tiny_checkpoint, "onnxruntime", providers=["cpu"])
    assert engine.name == "onnxruntime" and engine.spec.variant == "tiny"
    exported = list((tmp_path / "onnx").iterdir())
    assert len(exported) == 1
    stamp = (exported[0] / "search.onnx").stat().st_mtime_ns
    load_engine(tiny_checkpoint, "auto", providers=["cpu"])
    assert (exported[0] / "search.onnx").stat().st_mtime_ns == stamp
    assert load_engine(tiny_checkpoint, "torch").name == "torch"
    with pytest.raises(ValueError, match="unknown engine"):
        load_engine(tiny_checkpoint, "tensorflow")


def test_processes_exporting_the_same_checkpoint_at_once_share_one_entry(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """Two nodes starting together on a fresh cache: both run, one whole entry remains."""
    code = (
        "import sys; from asymtrack_ros.engines.factory import load_engine; load_engine(sys.argv[1], providers=['cpu'])"
    )
    env = {**os.environ, "ASYMTRACK_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tiny_checkpoint)], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    entries = list((tmp_path / "onnx").iterdir())
    assert len(entries) == 1, entries  # no temporary folder left behind either
    assert {p.name for p in entries[0].iterdir()} == {"template.onnx", "search.onnx", "model.json"}


def test_fp16_export_stays_finite_and_close(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """ETM's token sums overflow fp16; the kernel path stays fp32 inside an fp16 graph."""
    io = asym_io("tiny")
    out = tmp_path / "fp16"
    assert main(["export", str(tiny_checkpoint), "--out", str(out), "--fp16"]) == 0
    assert json.loads((out / "model.json").read_text())["precision"] == "fp16"
    engine = OnnxEngine(out, providers=["cpu"])
    got = engine.track({"search": io["search"][:1]}, engine.encode_template({"template": io["template"][:1]}))
    assert got["boxes"].dtype == np.float32 and np.isfinite(got["boxes"]).all()
    np.testing.assert_allclose(got["boxes"][0], io["boxes_deploy"][0, 0], atol=1e-2)


def test_int8_export_is_quantized_and_close(tmp_path: Path) -> None:
    """Shipped (trained) weights on realistic crops: int8 boxes stay within pixels of fp32."""
    fp32, int8 = tmp_path / "fp32", tmp_path / "int8"
    for out, flags in ((fp32, []), (int8, ["--int8"])):
        assert main(["export", str(default_model_path()), "--out", str(out), *flags]) == 0
    assert json.loads((int8 / "model.json").read_text())["precision"] == "int8"
    ops = {n.op_type for n in onnx.load(str(int8 / "search.onnx")).graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear"} <= ops
    spec = OnnxEngine(fp32, providers=["cpu"]).spec
    feeds = calibration_feeds(fp32, spec, 8, seed=99)  # not the calibration pairs (seed 0)
    ref, got = (ort.InferenceSession(str(d / "search.onnx"), providers=["CPUExecutionProvider"]) for d in (fp32, int8))
    box_diff = np.array([np.abs(got.run(None, f)[0] - ref.run(None, f)[0]).max() for f in feeds])
    score_diff = max(np.abs(got.run(None, f)[1] - ref.run(None, f)[1]).max() for f in feeds)
    assert np.median(box_diff) < 5e-3 and box_diff.max() < 3e-2  # 1.3 px / 7.7 px on the 256 px crop
    assert score_diff < 0.05
    with pytest.raises(ValueError, match="starts from an fp32 export"):
        quantize_int8(int8, calibration_feeds)
