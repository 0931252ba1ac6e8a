"""Where the package's data lives: the default tracker model and the config files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The weights shipped per model family (model cards beside them in data/).
SHIPPED_MODELS = {
    "asymtrack": PACKAGE_DIR / "data" / "asymtrack_tiny.pth",
    "seat": PACKAGE_DIR / "data" / "seat_lt.pth",
}
MODEL_ENV = "ASYMTRACK_MODEL"


def cache_root() -> Path:
    """Where exports and downloaded assets are cached: $ASYMTRACK_CACHE, else ~/.cache/asymtrack_ros."""
    return Path(os.environ.get("ASYMTRACK_CACHE", Path.home() / ".cache" / "asymtrack_ros"))


def default_model_path(family: str | None = None) -> Path:
    """The one rule for the default tracker model: with no family asked for,
    $ASYMTRACK_MODEL, else the shipped AsymTrack-T; with a family, that family's shipped
    weights.
    """
    env = os.environ.get(MODEL_ENV)
    if env and family is None:
        return Path(env)
    family = family or "asymtrack"
    if family not in SHIPPED_MODELS:
        raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(SHIPPED_MODELS)}")
    path = SHIPPED_MODELS[family]
    if path.is_file():
        return path
    raise FileNotFoundError(f"no tracker model: {path} is missing; set ${MODEL_ENV} or pass a model path")


def config_file(name: str) -> Path:
    """A file of config/: from the installed share directory, else from the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory("asymtrack_ros")) / "config" / name
        if path.is_file():
            return path
    except (ImportError, LookupError, ValueError):
        pass
    path = PACKAGE_DIR.parent / "config" / name
    if path.is_file():
        return path
    raise FileNotFoundError(f"config file {name} not found (neither installed nor in a source checkout)")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested maps (a params file's ros__parameters) to dotted names, as ROS does."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def read_node_params(path: Path, node: str) -> dict:
    """The ``<node>: ros__parameters:`` section of a ROS params file, flattened to dotted names;
    ValueError naming the file when it is not YAML or not shaped like a params file.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a YAML params file ({err})") from None

    def mapping(value: Any, what: str) -> Mapping[str, Any]:
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{path}: {what} must be a mapping, got {type(value).__name__}")
        return value or {}

    top = mapping(data, "the file")
    section = mapping(top.get(node, top.get(f"/{node}")), f"'{node}'")
    return flatten(mapping(section.get("ros__parameters"), f"'{node}: ros__parameters'"))


def parse_assignment(item: str) -> tuple[str, object]:
    """``name=value`` from a command line, the value read as YAML (numbers, booleans, lists,
    mappings); ``ValueError`` naming the item otherwise.
    """
    name, sep, text = item.partition("=")
    if not sep or not name:
        raise ValueError(f"{item!r} is not key=value")
    try:
        return name, yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{item!r}: value is not valid YAML: {err}") from None
