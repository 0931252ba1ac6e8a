"""Fuzzed checkpoints and exported model folders (hypothesis): files truncated or with bytes
flipped, pickles that call things (allowed or not, with any arguments), state dicts with
keys missing or extra, shapes or types changed, recorded variants and architectures of any
form; model.json files of any content and graphs cut or corrupted. Each loads as what it
is or is refused with ValueError (CheckpointError, UnsafePickleError) naming the file; no
pickle ever runs code.
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asymtrack_ros.contracts.spec import ModelSpec
from asymtrack_ros.engines.onnx_engine import OnnxEngine
from asymtrack_ros.models.checkpoint import network_from_state, recorded_variant, state_dict_of
from asymtrack_ros.models.safe_pickle import CheckpointError, UnsafePickleError, read_checkpoint
from asymtrack_ros.models.seat.checkpoint import recorded_arch

# Examples per boundary (docs/robustness.md lists them).
FILE_EXAMPLES = 300
PICKLE_EXAMPLES = 400
STATE_EXAMPLES = 60
ARCH_EXAMPLES = 300
SPEC_EXAMPLES = 400
GRAPH_EXAMPLES = 40


def small_checkpoint(zip_format: bool) -> bytes:
    buf = io.BytesIO()
    state = {"net": {"a.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.zeros(2)}, "epoch": 3}
    torch.save(state, buf, _use_new_zipfile_serialization=zip_format)
    return buf.getvalue()


@st.composite
def damaged_files(draw) -> tuple[bytes, bool]:
    data = bytearray(small_checkpoint(draw(st.booleans())))
    kind = draw(st.sampled_from(["intact", "cut", "flip", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=300)), False
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data) - 1))]), False
    if kind == "flip":
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data), kind == "intact"


@settings(max_examples=FILE_EXAMPLES)
@given(damaged_files())
def test_damaged_checkpoint_files_read_or_refused(case):
    data, intact = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pth.tar"
        path.write_bytes(data)
        try:
            ckpt = read_checkpoint(path)
        except CheckpointError as err:
            assert not intact and str(path) in str(err), err
            return
    if intact:
        assert torch.equal(ckpt["net"]["a.weight"], torch.arange(6.0).reshape(2, 3))


# -- pickles that call things ---------------------------------------------------------------

CANARY = Path(tempfile.gettempdir()) / f"asymtrack_fuzz_canary_{id(object())}"
FORBIDDEN = [
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "getattr"),
    ("subprocess", "check_output"),
    ("posix", "system"),
]
CALLABLES = FORBIDDEN + [  # the allowed ones, called with anything
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("torch", "Size"),
    ("torch", "float32"),
]
arguments = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.just(f"touch {CANARY}"),
    st.just(f"open({str(CANARY)!r}, 'w')"),
    st.lists(st.integers(-3, 3), max_size=3),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
)


def pickle_call(module: str, name: str, args: tuple, how: str) -> bytes:
    """Protocol-2 pickle bytes that call ``module.name(*args)`` (REDUCE), build an object
    of it with a state (NEWOBJ + BUILD), or just name it.
    """
    head = b"\x80\x02c" + f"{module}\n{name}\n".encode()
    body = pickle.dumps(args, protocol=2)[2:-1]  # the tuple, without PROTO and STOP
    if how == "reduce":
        return head + body + b"R."
    if how == "newobj":
        return head + body + b"\x81" + pickle.dumps({"state": args}, protocol=2)[2:-1] + b"b."
    return head + b"."


def in_torch_zip(payload: bytes) -> bytes:
    """A torch zip checkpoint whose pickle is ``payload``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(small_checkpoint(True))) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = payload if item.filename.endswith("data.pkl") else src.read(item)
            dst.writestr(item, data)
    return out.getvalue()


@settings(max_examples=PICKLE_EXAMPLES)
@given(
    st.sampled_from(CALLABLES),
    st.lists(arguments, max_size=4).map(tuple),
    st.sampled_from(["reduce", "newobj", "name"]),
    st.booleans(),
)
@example(("torch._utils", "_rebuild_tensor_v2"), (), "reduce", True)  # was a TypeError out of read_checkpoint
def test_pickles_never_run_code(target, args, how, zipped):
    payload = pickle_call(*target, args, how)
    refused = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hostile.pth"
        path.write_bytes(in_torch_zip(payload) if zipped else payload)
        try:
            read_checkpoint(path)
        except CheckpointError as err:
            refused = err
            assert str(path) in str(err), err
    assert not CANARY.exists(), "a pickle ran code"
    if target in FORBIDDEN and how == "reduce":
        assert isinstance(refused, UnsafePickleError), refused


# -- state dicts, variants and architectures -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_state(tiny_checkpoint):
    ckpt = read_checkpoint(tiny_checkpoint)
    return state_dict_of(ckpt, tiny_checkpoint), recorded_variant(ckpt)


@st.composite
def state_changes(draw, keys: list[str]):
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["drop", "add", "reshape", "retype", "prefix"]),
                st.sampled_from(keys),
                st.integers(1, 5),
            ),
            min_size=1,
            max_size=3,
        )
    )


@settings(max_examples=STATE_EXAMPLES)
@given(st.data())
def test_state_dicts_with_wrong_keys_shapes_or_types_are_refused(tiny_state, data):
    state, recorded = tiny_state
    changes = data.draw(state_changes(sorted(state)))
    changed = dict(state)
    for kind, key, n in changes:
        if kind == "drop":
            changed.pop(key, None)
        elif kind == "add":
            changed[f"{key}.extra{n}"] = torch.zeros(n)
        elif kind == "reshape" and key in changed:
            changed[key] = torch.zeros(changed[key].numel() + n)
        elif kind == "retype" and key in changed:
            changed[key] = [n] * n
        elif kind == "prefix" and key in changed:
            changed[f"head{n}.{key}"] = changed.pop(key)
    wrapped = data.draw(st.sampled_from(["net", "bare", "settings"]))
    ckpt = {"net": changed} if wrapped == "net" else changed
    if wrapped == "settings":
        ckpt = {"net": changed, "variant": data.draw(st.one_of(st.text(max_size=6), st.integers(), st.none()))}
    variant = data.draw(st.sampled_from([None, "tiny", "small", "base", "huge"]))
    with pytest.raises(ValueError) as err:
        network_from_state(state_dict_of(ckpt, Path("fuzz.pth")), recorded_variant(ckpt), variant, "fuzz.pth")
    assert "fuzz.pth" in str(err.value) or "variant" in str(err.value), err.value


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)


@settings(max_examples=ARCH_EXAMPLES)
@given(
    st.one_of(
        st.text(max_size=80),
        json_values,
        st.dictionaries(st.sampled_from(["variant", "backbone", "blocks"]), json_values),
    )
)
def test_recorded_seat_architectures_of_any_form_are_read_or_refused(arch):
    try:
        recorded_arch({"arch": arch, "state_dict": {}}, Path("seat.pth"))
    except CheckpointError as err:
        assert "seat.pth" in str(err), err


# -- exported model folders -------------------------------------------------------------------


@st.composite
def model_json(draw, valid: dict) -> str:
    kind = draw(st.sampled_from(["field", "field", "drop", "random", "text"]))
    if kind == "text":
        return draw(st.text(max_size=60))
    if kind == "random":
        return json.dumps(draw(json_values))
    data = dict(valid)
    key = draw(st.sampled_from(sorted(data)))
    if kind == "drop":
        data.pop(key)
    else:
        data[key] = draw(json_values)
    return json.dumps(data)


@settings(max_examples=SPEC_EXAMPLES)
@given(st.data())
def test_model_json_is_a_usable_spec_or_refused(tiny_onnx, data):
    valid = json.loads((tiny_onnx / "model.json").read_text())
    text = data.draw(model_json(valid))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_text(text)
        try:
            spec = ModelSpec.from_json(path)
        except ValueError as err:
            assert str(path) in str(err), err
            return
    # What the trackers compute with: sizes, factors, normalisation, input/output names.
    assert isinstance(spec.template_size, int) and spec.template_size > 0 and spec.search_size > 0
    assert spec.template_factor > 0 and spec.search_factor > 0 and spec.pixel_scale > 0
    assert len(spec.mean) == 3 and len(spec.std) == 3 and all(s > 0 for s in spec.std)
    assert all(isinstance(n, str) for n in (*spec.template_inputs, *spec.search_inputs, *spec.outputs))
    assert isinstance(spec.family, str) and isinstance(spec.variant, str) and isinstance(spec.extra, dict)


@settings(max_examples=GRAPH_EXAMPLES)
@given(
    st.sampled_from(["template.onnx", "search.onnx"]), st.sampled_from(["cut", "flip", "empty", "missing"]), st.data()
)
def test_damaged_graphs_are_refused_naming_the_file(tiny_onnx, graph, damage, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(tiny_onnx, folder)
        path = folder / graph
        content = bytearray(path.read_bytes())
        if damage == "cut":
            content = content[: data.draw(st.integers(0, len(content) - 1))]
        elif damage == "flip":
            for _ in range(data.draw(st.integers(1, 8))):
                content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
        elif damage == "empty":
            content = bytearray()
        if damage == "missing":
            path.unlink()
        else:
            path.write_bytes(bytes(content))
        try:
            OnnxEngine(folder, ("cpu",), threads=1)
        except (ValueError, FileNotFoundError) as err:
            assert str(path) in str(err), err
