"""Packaging as users install it: the wheel, installed non-editable into a fresh virtual
environment and run from an empty folder, finds its shipped defaults and runs the demo."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command, cwd, env=None, timeout=900):
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_installed_outside_the_repository_runs_the_demo(tmp_path):
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "-w", str(wheels), str(ROOT)], cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(wheels.glob("leadq-*.whl"))
    # The environment sees the dependencies already installed here, and installs leadq itself
    # from the wheel, non-editable: the package in its site-packages wins over any editable path.
    # This interpreter's pip installs into it (`--python`), so the venv needs no pip of its own.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                      "--force-reinstall", str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    where = _run([str(python), "-c", "import leadq, sys; print(leadq.__file__)"], cwd=empty, env=env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    version = _run([str(python), "-m", "leadq", "--version"], cwd=empty, env=env)
    assert version.returncode == 0 and version.stdout.strip().endswith("0.1.0"), version.stdout + version.stderr
    # the smallest demo the command accepts: what is checked is that it runs, not its figures
    demo = _run([str(env_dir / "bin" / "leadq"), "demo", "--leads", "1000"], cwd=empty, env=env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "scorecard not found" not in demo.stderr
    assert (empty / "data" / "demo" / "compare" / "report.html").is_file()
    assert (empty / "models" / "mlflow.db").is_file()
