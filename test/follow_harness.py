"""Helpers for the follow controller and simulator node tests: installed node executables
as subprocesses (stopped like Ctrl-C) and params files keyed by namespace.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import ros_harness
import yaml
from ament_index_python.packages import get_package_share_directory

from asymtrack_ros.files.resources import flatten

executable = ros_harness.node_executable


def _merge(base: dict, dotted: dict[str, Any]) -> dict:
    for name, value in dotted.items():
        node = base
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return base


def params_file(
    path: Path, node: str, namespace: str, overrides: dict[str, Any], shipped: tuple[str, ...] = ()
) -> Path:
    """A params file for ``namespace/node``: the node's sections of shipped config files, in
    order, then dotted overrides (a node in a namespace does not match the shipped keys).
    """
    dotted: dict[str, Any] = {}
    share = Path(get_package_share_directory("asymtrack_ros")) / "config"
    for name in shipped:
        data = yaml.safe_load((share / name).read_text())
        dotted.update(flatten(data[node]["ros__parameters"]))
    dotted.update(overrides)
    path.write_text(yaml.safe_dump({f"{namespace}/{node}": {"ros__parameters": _merge({}, dotted)}}))
    return path


class NodeProcess(ros_harness.NodeProcess):
    """The shared node process, named first as these tests start several kinds of node."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        super().__init__(args, log_path, name=name)


def spin_until(executor: Any, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        executor.spin_once(timeout_sec=0.01)
