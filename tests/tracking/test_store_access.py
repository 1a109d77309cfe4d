"""Opening the MLflow store (`leadq.tracking.store_access`, `leadq.tracking.store.prepare_store`):
checked before any work, never created by a command that only reads, created once when two
trainings start together, and found again when its folder was moved."""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, warning_lines, write_contract_tables
from leadq.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["models"], ["promote", "lead-quality", "1"]])
def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path, command):
    uri = f"sqlite:///{tmp_path}/typo/x.db"
    result = runner.invoke(app, [*command, "--tracking-uri", uri])
    assert_one_line_error(result, 3, "no MLflow store at", "typo/x.db")
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_not_created_by_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert_one_line_error(runner.invoke(app, ["models"]), 3, "models/mlflow.db")
    assert list(tmp_path.iterdir()) == []


def test_predict_on_a_missing_store_stops_before_reading_data(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["predict", "--data", str(data), "--out", str(tmp_path / "s.csv"),
                                 "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    assert_one_line_error(result, 3, "no MLflow store")
    assert tree_state(tmp_path) == before and not (tmp_path / "store").exists()


@pytest.mark.parametrize("uri", ["foo://bar", "ftp://host/x"])
def test_an_unknown_store_scheme_stops_train_before_any_work(tmp_path, uri):
    data = write_contract_tables(tmp_path / "d")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--data", str(data), "--tracking-uri", uri])
    assert_one_line_error(result, 2, f"--tracking-uri {uri}", "MLflow cannot open")
    assert tree_state(tmp_path) == before
    assert_one_line_error(runner.invoke(app, ["models", "--tracking-uri", uri]), 2, "MLflow cannot open")


def test_a_store_under_a_file_is_one_line(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    (tmp_path / "afile").write_text("x")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--data", str(data), "--tracking-uri", f"sqlite:///{tmp_path}/afile/m.db"])
    assert_one_line_error(result, 2, "is a file, not a folder")
    assert tree_state(tmp_path) == before


INIT = """
import sys, time
from leadq.tracking.store import prepare_store
start = float(sys.argv[2])
while time.time() < start:
    pass
prepare_store(sys.argv[1])
print("ready")
"""


@pytest.mark.slow
def test_two_processes_creating_a_new_store_at_once_both_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path}/new/mlflow.db"
    script = tmp_path / "init.py"
    script.write_text(INIT)
    start = str(time.time() + 8)  # both past their imports, then they race
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    procs = [subprocess.Popen([sys.executable, str(script), uri, start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    assert all(out.strip() == "ready" for out, _ in results)


@pytest.mark.slow
def test_a_moved_store_still_serves_its_models_and_records_the_new_place(trained, tmp_path):
    old_db = trained.tracking_uri.removeprefix("sqlite:///")
    copy = tmp_path / "copy"
    shutil.copytree(Path(old_db).parent, copy)
    moved = tmp_path / "moved"
    copy.rename(moved)
    uri = f"sqlite:///{moved / 'mlflow.db'}"
    common = ["--data", str(trained.data_dir), "--as-of", "2026-06-01", "--tracking-uri", uri]
    result = runner.invoke(app, ["predict", *common, "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert any("was moved" in line and str(moved / "artifacts") in line for line in warning_lines(result))
    again = runner.invoke(app, ["predict", *common, "--out", str(tmp_path / "s2.parquet")])
    assert again.exit_code == 0 and not any("was moved" in line for line in warning_lines(again))
    original = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--as-of", "2026-06-01",
                                   "--tracking-uri", trained.tracking_uri, "--out", str(tmp_path / "o.parquet")])
    assert original.exit_code == 0 and not any("was moved" in line for line in warning_lines(original))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet").drop(columns="scored_at"),
                                  pd.read_parquet(tmp_path / "o.parquet").drop(columns="scored_at"))
    with sqlite3.connect(moved / "mlflow.db") as con:
        locations = [row[0] for row in con.execute("SELECT artifact_uri FROM runs")]
    assert locations and all(str(moved) in location for location in locations)
