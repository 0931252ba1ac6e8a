"""Fuzzed node parameters and params files (hypothesis): values of every type and range for
the tracker node's and the follow controller's parameters, unknown names, and params files
that are not YAML or not shaped like one. Each is accepted as a configuration the node can
run with, or refused with the node's configuration error naming the parameter (one line,
exit code 2): never another exception.
"""

from __future__ import annotations

import math

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asymtrack_ros.control.params import SCHEMA, FollowParams, ParamError, load_params
from asymtrack_ros.files.resources import read_node_params
from asymtrack_ros.tracking.node_config import ConfigError, TrackerNodeConfig, from_params, parameter_defaults
from asymtrack_ros.tracking.selection import PointBoxParams

# Examples per boundary (docs/robustness.md lists them).
TRACKER_EXAMPLES = 800
FOLLOW_EXAMPLES = 800
FILE_EXAMPLES = 300

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16),
    st.sampled_from(["auto", "cpu", "raw", "compressed", "reliable", "best_effort", "asymtrack", "seat", "gimbal"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=6), scalars, max_size=3))


def near_default(default):
    """Values of the default's own type around it (in and out of range), or anything."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, (int, float)):
        return st.one_of(st.floats(-10, 10), st.floats(-1e6, 1e6), st.integers(-5, 1000), values)
    return values


def overrides(defaults: dict, extra_names: list[str]):
    names = sorted(defaults) + extra_names
    return st.lists(st.sampled_from(names), max_size=5, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {n: near_default(defaults[n]) if n in defaults else values for n in chosen}
        )
    )


@settings(max_examples=TRACKER_EXAMPLES)
@given(overrides(parameter_defaults(), []), st.sampled_from([None, ("asymtrack", "seat")]))
@example({"model_family": None}, None)  # was a TypeError while formatting the message
def test_tracker_parameters_are_a_runnable_config_or_one_named_error(given_values, families):
    try:
        cfg = from_params(given_values, families=families)
    except ConfigError as err:
        assert str(err).startswith("parameter '") and "\n" not in str(err), err
        assert any(f"'{name}'" in str(err) for name in parameter_defaults()), err
        return
    assert isinstance(cfg, TrackerNodeConfig)
    cfg.tracker_params()  # what the node builds from it next must not fail
    PointBoxParams(cfg.default_box_size, cfg.point_box_min_size, cfg.point_box_max_size)


@settings(max_examples=FOLLOW_EXAMPLES)
@given(overrides({name: spec.default for name, spec in SCHEMA.items()}, ["pid.yaw.kz", "speed", ""]))
def test_follow_parameters_are_valid_or_one_named_error(given_values):
    try:
        p = load_params(given_values)
    except ParamError as err:
        assert "parameter" in str(err) and "\n" not in str(err), err
        return
    assert isinstance(p, FollowParams)
    assert p.rate_hz > 0 and p.input_timeout_s >= 1 / p.rate_hz
    numbers = [v for v in vars(p).values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers)


trees = st.recursive(scalars, lambda inner: st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@st.composite
def params_files(draw) -> str:
    """Params files: well-shaped with odd values, misshapen, or not YAML at all."""
    kind = draw(st.sampled_from(["shaped", "tree", "text"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "tree":
        return yaml.safe_dump(draw(st.one_of(trees, st.lists(scalars, max_size=3))))
    section = draw(st.dictionaries(st.sampled_from(sorted(parameter_defaults())), values, max_size=4))
    return yaml.safe_dump({"tracker_node": {"ros__parameters": section}})


@settings(max_examples=FILE_EXAMPLES)
@given(params_files())
@example("- null\n")  # a list, not a mapping: was an AttributeError
@example("tracker_node: [1, 2]\n")
@example("tracker_node:\n  ros__parameters: 3\n")
@example("tracker_node: {\n")  # not YAML
def test_params_files_read_or_refused_naming_the_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("params") / "tracker.yaml"
    path.write_text(text)
    try:
        read = read_node_params(path, "tracker_node")
    except ValueError as err:
        assert str(path) in str(err), err
        return
    assert isinstance(read, dict) and all(isinstance(k, str) for k in read)
    try:
        from_params({k: v for k, v in read.items() if k in parameter_defaults()}, families=None)
    except ConfigError:
        pass
