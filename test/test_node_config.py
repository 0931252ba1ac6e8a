"""Tracker node parameters: the shipped YAML, validation messages, throttled warnings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from asymtrack_ros.nodes.monitor import Throttle, Window, percentiles
from asymtrack_ros.tracking.node_config import ConfigError, TrackerNodeConfig, from_params, parameter_defaults

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_yaml_lists_every_parameter_with_its_default():
    data = yaml.safe_load((ROOT / "config" / "tracker.yaml").read_text())
    params = data["tracker_node"]["ros__parameters"]
    assert params == parameter_defaults()


def test_valid_values_and_coercions():
    cfg = from_params({"model_path": "m.onnx", "providers": "cuda, CPU", "stamp_tolerance_ms": 15, "engine": "TORCH"})
    assert cfg.providers == ("cuda", "cpu") and cfg.stamp_tolerance_ms == 15.0 and cfg.engine == "torch"
    assert cfg == TrackerNodeConfig(
        model_path="m.onnx", providers=("cuda", "cpu"), stamp_tolerance_ms=15.0, engine="torch"
    )
    assert from_params({}).model_path == ""  # the shipped weights
    assert from_params({"model_family": "SEAT"}, families=("asymtrack", "seat")).model_family == "seat"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"engine": "tensorflow"}, "parameter 'engine' must be one of auto, torch, onnxruntime"),
        ({"providers": ["cuda", "rocm"]}, "parameter 'providers' must be one of tensorrt, cuda, cpu"),
        ({"providers": []}, "parameter 'providers' must be a non-empty list"),
        ({"model_family": "yolo"}, "parameter 'model_family' must be empty (any) or one of asymtrack, seat"),
        ({"model_family": 3}, "parameter 'model_family' must be empty"),
        ({"buffer_length": 0}, "parameter 'buffer_length' must be >= 1, got 0"),
        ({"buffer_length": 2.5}, "parameter 'buffer_length' must be an integer"),
        ({"buffer_length": True}, "parameter 'buffer_length' must be an integer"),
        ({"stamp_tolerance_ms": -1.0}, "parameter 'stamp_tolerance_ms' must be >= 0.0"),
        ({"stamp_tolerance_ms": math.nan}, "parameter 'stamp_tolerance_ms' must be a finite number"),
        ({"lost_threshold": 1.5}, "parameter 'lost_threshold' must be >= 0.0 and <= 1.0"),
        ({"lost_threshold": 0.5, "found_threshold": 0.4}, "parameter 'found_threshold' (0.4) must be >= lost"),
        ({"fp16": "yes"}, "parameter 'fp16' must be true or false"),
        ({"image_transport": "theora"}, "parameter 'image_transport' must be one of raw, compressed"),
        ({"image_qos_reliability": "sometimes"}, "parameter 'image_qos_reliability'"),
        ({"image_qos_depth": 0}, "parameter 'image_qos_depth' must be >= 1"),
        ({"diagnostics_period_s": 0.0}, "parameter 'diagnostics_period_s' must be > 0.0"),
        ({"default_box_size": 500.0}, "parameter 'default_box_size' must lie between"),
        ({"point_box_min_size": 300.0}, "parameter 'point_box_max_size' must be >= point_box_min_size"),
        ({"lost_patience": 0}, "parameter 'lost_patience' must be >= 1"),
    ],
)
def test_bad_values_name_the_parameter(values, message):
    with pytest.raises(ConfigError) as info:
        from_params({"model_path": "m.onnx", **values}, families=("asymtrack", "seat"))
    assert message in str(info.value)


def test_throttle_per_key_with_suppressed_count():
    now = [0.0]
    out: list[str] = []
    warn = Throttle(out.append, period_s=2.0, clock=lambda: now[0])
    assert warn("a", "first a")
    assert not warn("a", "second a")
    assert warn("b", "first b")  # another kind is not held back
    now[0] = 2.5
    assert warn("a", "third a")
    assert out == ["first a", "first b", "third a (1 similar suppressed)"]


def test_percentiles_and_window():
    window = Window(size=3)
    assert all(math.isnan(v) for v in percentiles(window.snapshot()))
    for v in (100.0, 1.0, 2.0, 3.0):
        window.add(v)
    assert window.snapshot() == [1.0, 2.0, 3.0]
    assert percentiles(window.snapshot(), (50,)) == (2.0,)
