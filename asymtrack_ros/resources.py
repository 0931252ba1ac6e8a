"""Where the package's data lives: the default tracker model and the config files.

``default_model_path`` is the one place that decides which model the demo and the
simulation launch use: the trained weights shipped in the package when present, else the
fixture checkpoint beside a source checkout (random weights: tracking will be poor).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_MODEL = PACKAGE_DIR / "data" / "asymtrack_tiny.pth"
# Fallback for source checkouts: the shared fixtures beside the repository root.
FIXTURE_MODEL = PACKAGE_DIR.parents[1] / "shared" / "fixtures" / "asymtrack" / "tiny.pth.tar"
MODEL_ENV = "ASYMTRACK_MODEL"


def default_model_path() -> Path:
    """$ASYMTRACK_MODEL, else the shipped weights, else the fixture checkpoint (with a warning)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    if FIXTURE_MODEL.is_file():
        log.warning("no trained weights at %s; using the untrained fixture %s (tracking will be poor)",
                    SHIPPED_MODEL, FIXTURE_MODEL)
        return FIXTURE_MODEL
    raise FileNotFoundError(f"no tracker model: {SHIPPED_MODEL} is missing; set ${MODEL_ENV} to a checkpoint")


def is_trained(model: Path) -> bool:
    return Path(model).resolve() != FIXTURE_MODEL.resolve()


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
    import yaml

    from .control.params import flatten

    data = yaml.safe_load(Path(path).read_text()) or {}
    section = data.get(node, data.get(f"/{node}", {})) or {}
    return flatten(section.get("ros__parameters", {}) or {})
