"""SEAT architecture descriptions: the plain JSON the model builder reads and the search
writes, validated with errors that name the offending field.

Also reads the original code's architecture string (``[[3, 96], 'LightTrack']|...``) so
that checkpoints carrying only that string build the same network.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...files.resources import config_file

FORMAT = "seat-arch/1"
WAVEMLP = re.compile(r"^wavemlp_k(\d+)_t(\d+)(_dw)?$")
CANDIDATE_OPS = tuple(f"wavemlp_k{k}_t{t}{dw}" for dw in ("", "_dw") for k in (3, 5, 7) for t in (4, 8))
SKIP = "skip_connect"

# (kernel, stride, padding) of every layer that changes the spatial size, and output channels.
BACKBONES: dict[str, dict[str, Any]] = {
    "LightTrack": {"channels": 96, "stride": 16, "layers": [(3, 2, 1), (7, 2, 3), (3, 2, 1), (7, 2, 3)]},
    "AlexNet": {
        "channels": 256,
        "stride": 8,
        "layers": [(7, 2, 0), (3, 2, 0), (5, 1, 0), (3, 2, 0), (3, 1, 0), (3, 1, 0), (3, 1, 0)],
    },
}
DEFAULT_CONFIG = {"LightTrack": "seat_lt.json", "AlexNet": "seat_al.json"}


class ArchError(ValueError):
    """A malformed or inconsistent SEAT architecture description."""


def feature_size(backbone: str, size: int) -> int:
    for k, s, p in BACKBONES[backbone]["layers"]:
        size = (size + 2 * p - k) // s + 1
    return size


def parse_op(name: str) -> tuple[int, int, bool]:
    """(kernel, expansion, depthwise phase) of a candidate op name."""
    m = WAVEMLP.match(name) if isinstance(name, str) else None
    if m is None or name not in CANDIDATE_OPS:
        raise ArchError(f"unknown op {name!r}; known: {', '.join(CANDIDATE_OPS)}")
    return int(m.group(1)), int(m.group(2)), bool(m.group(3))


@dataclass(frozen=True)
class BlockArch:
    in_channels: int
    out_channels: int
    head_op: str
    stack_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackerHypers:
    penalty_k: float
    window_influence: float
    lr: float
    context_amount: float = 0.5
    small_sz: int | None = None  # search size normally (the network's)
    big_sz: int | None = None  # search size for small targets
    small_target_ratio: float = 0.004  # target area / image area below which big_sz is used


@dataclass(frozen=True)
class SeatArch:
    variant: str
    backbone: str
    template_size: int
    search_size: int
    neck: tuple[int, int]
    cfm_channels: int  # embedding width (CFM input)
    cfm_hidden: int  # correlation channels = template feature cells
    cfm_out: int
    stride: int
    blocks: tuple[BlockArch, ...]
    collector: tuple[int, int]
    head_channels: int
    tracker: TrackerHypers
    roi_size: int = 3
    head_tower: int = 4
    head_groups: int = 32
    notes: dict = field(default_factory=dict, compare=False)

    @property
    def template_feat(self) -> int:
        return feature_size(self.backbone, self.template_size)

    def search_feat(self, search_size: int | None = None) -> int:
        return feature_size(self.backbone, search_size or self.search_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = [dict(b, stack_ops=list(b["stack_ops"])) for b in d["blocks"]]
        d["neck"], d["collector"] = list(d["neck"]), list(d["collector"])
        notes = d.pop("notes")
        out = {"format": FORMAT, **d}
        if notes:
            out["notes"] = notes
        return out

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    def same_network(self, other: SeatArch) -> bool:
        keys = ("backbone", "neck", "cfm_channels", "cfm_hidden", "cfm_out", "stride", "blocks", "collector")
        return all(getattr(self, k) == getattr(other, k) for k in keys) and self.head_channels == other.head_channels


def _get(d: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in d:
        raise ArchError(f"{where}: missing key {key!r}")
    v = d[key]
    ok = isinstance(v, kind) and not (isinstance(v, bool) and kind in (int, float, (int, float)))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ArchError(f"{where}: {key!r} must be {names}, got {v!r}")
    return v


def _pair(d: dict, key: str, where: str) -> tuple[int, int]:
    v = _get(d, key, list, where)
    if len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        raise ArchError(f"{where}: {key!r} must be [in_channels, out_channels] positive integers, got {v!r}")
    return int(v[0]), int(v[1])


def arch_from_dict(d: Any, where: str = "architecture") -> SeatArch:
    """Validate a description (parsed JSON) and build a ``SeatArch``."""
    if not isinstance(d, dict):
        raise ArchError(f"{where}: expected a JSON object, got {type(d).__name__}")
    if d.get("format") != FORMAT:
        raise ArchError(f"{where}: 'format' must be {FORMAT!r}, got {d.get('format')!r}")
    known = {
        "format", "variant", "backbone", "template_size", "search_size", "neck", "cfm_channels", "cfm_hidden",
        "cfm_out", "stride", "blocks", "collector", "head_channels", "tracker", "roi_size", "head_tower",
        "head_groups", "notes",
    }  # fmt: skip
    unknown = sorted(set(d) - known)
    if unknown:
        raise ArchError(f"{where}: unknown keys {unknown}")
    backbone = _get(d, "backbone", str, where)
    if backbone not in BACKBONES:
        raise ArchError(f"{where}: unknown backbone {backbone!r}; known: {sorted(BACKBONES)}")
    blocks = []
    for i, b in enumerate(_get(d, "blocks", list, where)):
        w = f"{where}: blocks[{i}]"
        if not isinstance(b, dict):
            raise ArchError(f"{w}: expected an object")
        extra = set(b) - {"in_channels", "out_channels", "head_op", "stack_ops"}
        if extra:
            raise ArchError(f"{w}: unknown keys {sorted(extra)}")
        stack = _get(b, "stack_ops", list, w) if "stack_ops" in b else []
        for name in [_get(b, "head_op", str, w), *stack]:
            try:
                parse_op(name)
            except ArchError as err:
                raise ArchError(f"{w}: {err}") from None
        blocks.append(
            BlockArch(_get(b, "in_channels", int, w), _get(b, "out_channels", int, w), b["head_op"], tuple(stack))
        )
    t = _get(d, "tracker", dict, where)
    wt = f"{where}: tracker"
    hyper_keys = set(TrackerHypers.__dataclass_fields__)
    if set(t) - hyper_keys:
        raise ArchError(f"{wt}: unknown keys {sorted(set(t) - hyper_keys)}")
    for k in ("penalty_k", "window_influence", "lr"):
        _get(t, k, (int, float), wt)
    for k in ("small_sz", "big_sz"):
        if t.get(k) is not None:
            _get(t, k, int, wt)
    if not (t["penalty_k"] >= 0 and 0 <= t["window_influence"] <= 1 and 0 < t["lr"] <= 1):
        raise ArchError(f"{wt}: need penalty_k >= 0, window_influence in [0, 1], lr in (0, 1]")
    arch = SeatArch(
        variant=_get(d, "variant", str, where),
        backbone=backbone,
        template_size=_get(d, "template_size", int, where),
        search_size=_get(d, "search_size", int, where),
        neck=_pair(d, "neck", where),
        cfm_channels=_get(d, "cfm_channels", int, where),
        cfm_hidden=_get(d, "cfm_hidden", int, where),
        cfm_out=_get(d, "cfm_out", int, where),
        stride=_get(d, "stride", int, where),
        blocks=tuple(blocks),
        collector=_pair(d, "collector", where),
        head_channels=_get(d, "head_channels", int, where),
        tracker=TrackerHypers(**t),
        roi_size=d.get("roi_size", 3),
        head_tower=d.get("head_tower", 4),
        head_groups=d.get("head_groups", 32),
        notes=d.get("notes", {}),
    )
    check_arch(arch, where)
    return arch


def check_arch(a: SeatArch, where: str) -> None:
    """Channel chaining and geometry: a description that builds is one that runs."""
    bb = BACKBONES[a.backbone]
    if a.stride != bb["stride"]:
        raise ArchError(f"{where}: stride {a.stride} does not match backbone {a.backbone} (stride {bb['stride']})")
    if a.neck[0] != bb["channels"]:
        raise ArchError(f"{where}: neck input {a.neck[0]} != {a.backbone} output channels {bb['channels']}")
    if a.cfm_channels != a.neck[1]:
        raise ArchError(f"{where}: cfm_channels {a.cfm_channels} != neck output {a.neck[1]}")
    if min(a.template_size, a.search_size) < 32 or a.search_size < a.template_size:
        raise ArchError(f"{where}: need 32 <= template_size <= search_size, got {a.template_size}, {a.search_size}")
    cells = a.template_feat**2
    if a.cfm_hidden != cells:
        raise ArchError(
            f"{where}: cfm_hidden {a.cfm_hidden} must equal the template feature cells "
            f"({a.template_feat}x{a.template_feat} = {cells} for a {a.template_size}-px template)"
        )
    ch = a.cfm_out
    for i, b in enumerate(a.blocks):
        if b.in_channels != ch:
            raise ArchError(f"{where}: blocks[{i}].in_channels {b.in_channels} != previous output {ch}")
        ch = b.out_channels
    if a.collector[0] != ch:
        raise ArchError(f"{where}: collector input {a.collector[0]} != last block output {ch}")
    if a.head_channels != a.collector[1]:
        raise ArchError(f"{where}: head_channels {a.head_channels} != collector output {a.collector[1]}")
    if a.head_channels % a.head_groups:
        raise ArchError(f"{where}: head_channels {a.head_channels} not divisible by head_groups {a.head_groups}")
    for sz in (a.tracker.small_sz, a.tracker.big_sz):
        if sz is not None and sz < a.search_size:
            raise ArchError(f"{where}: tracker search sizes must be >= search_size {a.search_size}, got {sz}")


def load_arch(path: str | Path) -> SeatArch:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ArchError(f"{path}: cannot read architecture: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ArchError(f"{path}: not valid JSON: {err}") from None
    return arch_from_dict(data, str(path))


def builtin_arch(name: str) -> SeatArch:
    """``lt`` or ``al``: the published architectures (config/seat_<name>.json)."""
    try:
        path = config_file(f"seat_{name}.json")
    except FileNotFoundError:
        raise ArchError(f"unknown SEAT variant {name!r}; known: lt, al (or an architecture .json)") from None
    return load_arch(path)


def resolve_arch(spec: str | Path | SeatArch) -> SeatArch:
    """A ``SeatArch``, a variant name (``lt``/``al``) or a path to a description."""
    if isinstance(spec, SeatArch):
        return spec
    if str(spec).endswith(".json"):
        return load_arch(spec)
    return builtin_arch(str(spec))


def arch_from_original(text: str, where: str = "checkpoint arch") -> SeatArch:
    """The original code's ``net_config`` string; sizes and tracker settings come from the
    published variant with the same backbone.
    """
    try:
        rows = [ast.literal_eval(r.strip()) for r in text.split("|") if r.strip()]
    except (ValueError, SyntaxError) as err:
        raise ArchError(f"{where}: unreadable architecture string: {err}") from None
    try:
        (bb_ch, backbone), (neck, _), (cfm, stride, cfm_kind), *mid = rows
        (coll, coll_kind), (_, pred_kind) = mid[-2:]
        mid = mid[:-2]
    except (ValueError, TypeError):
        raise ArchError(f"{where}: expected backbone|neck|CFMN|blocks...|collector|prediction rows") from None
    if cfm_kind != "CFMN" or coll_kind != "collector" or pred_kind != "prediction":
        raise ArchError(f"{where}: unsupported layout ({cfm_kind}, {coll_kind}, {pred_kind})")
    if backbone not in DEFAULT_CONFIG:
        raise ArchError(f"{where}: unknown backbone {backbone!r}; known: {sorted(DEFAULT_CONFIG)}")
    base = load_arch(config_file(DEFAULT_CONFIG[backbone])).to_dict()
    blocks = []
    for row in mid:
        if not (isinstance(row, list) and len(row) == 5):
            raise ArchError(f"{where}: block row {row!r} is not [[in, out], head_op, [stack_ops], n, stride]")
        blocks.append({"in_channels": row[0][0], "out_channels": row[0][1], "head_op": row[1], "stack_ops": row[2]})
    base.update(
        neck=list(neck), cfm_channels=cfm[0], cfm_hidden=cfm[1], cfm_out=cfm[2], stride=stride, blocks=blocks,
        collector=list(coll),
    )  # fmt: skip
    base.pop("notes", None)
    return arch_from_dict(base, where)
