"""Where the package's data lives: the default tracker model and the config files."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = PACKAGE_DIR / "data" / "asymtrack_tiny.pth"
MODEL_ENV = "ASYMTRACK_MODEL"


def default_model_path() -> Path:
    """The one rule for the default tracker model: $ASYMTRACK_MODEL, else the AsymTrack-T
    weights shipped in the package (see its model card beside them).
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    raise FileNotFoundError(f"no tracker model: {SHIPPED_MODEL} is missing; set ${MODEL_ENV} or pass a model path")


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


def read_node_params(path: Path, node: str) -> dict:
    """The ``<node>: ros__parameters:`` section of a ROS params file, flattened to dotted names."""
    from ..control.params import flatten

    data = yaml.safe_load(Path(path).read_text()) or {}
    section = data.get(node, data.get(f"/{node}", {})) or {}
    return flatten(section.get("ros__parameters", {}) or {})


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
