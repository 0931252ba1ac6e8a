"""Fuzzed parameter values (hypothesis) for the nodes that declare theirs through
``declare_parameters`` (web page, selector, status marker): any type given for any
parameter is taken as the default's type or refused with a ValueError naming it. Then the
node processes themselves: a wrong type or range stops each with exit code 2 and one line
naming the parameter, never a traceback.
"""

from __future__ import annotations

import pytest
import rclpy
from follow_harness import NodeProcess
from hypothesis import given, settings
from hypothesis import strategies as st
from rclpy.parameter import Parameter
from ros_harness import START_S

from asymtrack_ros.nodes.run import declare_parameters
from asymtrack_ros.nodes.web_ui_node import PARAMETERS

pytestmark = pytest.mark.filterwarnings("ignore:module 'sre_:DeprecationWarning")

DECLARE_EXAMPLES = 150  # docs/robustness.md lists it

parameter_values = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), min_size=1, max_size=3),
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
)


@settings(max_examples=DECLARE_EXAMPLES)
@given(st.sampled_from(sorted(PARAMETERS)), parameter_values)
def test_declared_parameters_have_the_defaults_type_or_are_refused(context, name, value):
    node = rclpy.create_node("fuzz_params", context=context, parameter_overrides=[Parameter(name, value=value)])
    try:
        values = declare_parameters(node, PARAMETERS)
    except ValueError as err:
        assert f"parameter '{name}'" in str(err), err
        return
    finally:
        node.destroy_node()
    default = PARAMETERS[name][0]
    assert type(values[name]) is type(default) and (values[name] == value or value != value)  # NaN: itself


@pytest.mark.parametrize(
    ("node", "args", "message"),
    [
        ("web_ui_node", ["port:=70000"], "parameter 'port' must be 0 to 65535"),
        ("web_ui_node", ["port:=abc"], "parameter 'port' must be an integer"),
        ("web_ui_node", ["follow_timeout_s:=-1.0"], "parameter 'follow_timeout_s'"),
        ("web_ui_node", ["idle_unsubscribe_s:=.nan"], "parameter 'idle_unsubscribe_s'"),
        ("web_ui_node", ["token:=5"], "parameter 'token' must be a string"),
        ("selector_node", ["max_width:=wide"], "parameter 'max_width' must be an integer"),
        ("status_marker_node", ["rate_hz:=[1, 2]"], "parameter 'rate_hz' must be a number"),
    ],
)
def test_bad_parameters_stop_the_node_with_one_line(tmp_path, node, args, message):
    cmd = ["--ros-args", "-r", "__ns:=/fuzz_params"] + [a for arg in args for a in ("-p", arg)]
    proc = NodeProcess(node, cmd, tmp_path / "node.log")
    try:
        code = proc.wait(timeout=START_S)
    finally:
        proc.stop()
    log = proc.output()
    assert code == 2 and message in log and "Traceback" not in log, log
