"""The architecture is enforced by tools, run with the tests: import-linter's contracts in
pyproject.toml (layers, no cycles, only the tracking layer imports mlflow) and ruff's lint."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter (dev extra) not installed")
def test_import_contracts_hold():
    result = _run(["lint-imports", "--no-cache"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_ruff_lint_is_clean():
    result = _run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
