"""ruff over the package, its tests and scripts, with the settings in pyproject.toml: the
checks, and the formatting (``ruff format`` leaves every file as it is); and the package's
import contracts in pyproject.toml (the layer order, no ROS in the core), which name the
offending import when one is broken.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["asymtrack_ros", "test", "launch", "scripts", "setup.py"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_kept() -> None:
    # lint-imports puts the working directory first on sys.path: it reads the source tree.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
