"""Helpers for the follow controller and simulator node tests: installed node executables
as subprocesses (stopped like Ctrl-C) and params files keyed by namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from ament_index_python.packages import get_package_prefix, get_package_share_directory


def executable(name: str) -> Path:
    return Path(get_package_prefix("asymtrack_ros")) / "lib" / "asymtrack_ros" / name


def _merge(base: dict, dotted: dict[str, Any]) -> dict:
    for name, value in dotted.items():
        node = base
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return base


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


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
        dotted.update(_flatten(data[node]["ros__parameters"]))
    dotted.update(overrides)
    path.write_text(yaml.safe_dump({f"{namespace}/{node}": {"ros__parameters": _merge({}, dotted)}}))
    return path


class NodeProcess:
    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(executable(name)), *args], stdout=self._log,
                                     stderr=subprocess.STDOUT, env={**os.environ})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def spin_until(executor: Any, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        executor.spin_once(timeout_sec=0.01)
