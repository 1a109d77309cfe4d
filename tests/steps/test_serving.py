"""Serving outside the CLI, and the whole flow against a real MLflow tracking server."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app

pytestmark = pytest.mark.slow  # the shared trained model, a subprocess and an MLflow server
runner = CliRunner()


def test_mlflow_models_predict_serves_the_registered_pyfunc(trained, tmp_path):
    """`mlflow models predict` on a lead-level feature table gives the pyfunc's probabilities."""
    features = tmp_path / "features.csv"
    made = runner.invoke(app, ["features", "--data", str(trained.data_dir), "--as-of", "2026-06-01",
                               "--out", str(features)])
    assert made.exit_code == 0, made.output
    head = pd.read_csv(features).head(200)
    head.to_csv(features, index=False)
    predictions = tmp_path / "predictions.json"
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.tracking_uri, "MLFLOW_REGISTRY_URI": trained.tracking_uri}
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", "models:/lead-quality@champion",
         "-i", str(features), "-t", "csv", "--env-manager", "local", "-o", str(predictions)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    served = pd.DataFrame(json.loads(predictions.read_text())["predictions"])
    # scikit-learn's probabilities from the models training returned, on the same rows
    expected = trained.outcome.result.predict(head)
    pd.testing.assert_frame_equal(served[["p_mql", "p_sql"]], expected.reset_index(drop=True), rtol=1e-9)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on a free loopback port, stopped after the test."""
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        # no job runner: it is not used here, and it leaves a folder in shared memory behind
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
    else:
        server.terminate()
        pytest.fail("mlflow server did not become healthy in 120 s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_train_register_and_predict_against_a_tracking_server(trained, mlflow_server, tmp_path):
    trained_run = runner.invoke(app, ["train", "--config", str(trained.config_path), "--data",
                                      str(trained.data_dir), "--tracking-uri", mlflow_server])
    assert trained_run.exit_code == 0, trained_run.output
    assert "registered version 1" in trained_run.stdout
    listed = runner.invoke(app, ["models", "--tracking-uri", mlflow_server])
    assert listed.exit_code == 0 and "champion" in listed.stdout
    out = tmp_path / "scores.parquet"
    scored = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--out", str(out),
                                 "--as-of", "2026-06-01", "--tracking-uri", mlflow_server])
    assert scored.exit_code == 0, scored.output
    # the same data and config train the same model: the server's scores are the local store's
    local = tmp_path / "local.parquet"
    again = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--out", str(local),
                                "--as-of", "2026-06-01", "--tracking-uri", trained.tracking_uri])
    assert again.exit_code == 0, again.output
    served, stored = pd.read_parquet(out), pd.read_parquet(local)
    assert len(served) > 1000 and served["lead_id"].tolist() == stored["lead_id"].tolist()
    np.testing.assert_allclose(served["p_sql"], stored["p_sql"], rtol=1e-9, equal_nan=True)
    assert served["stage"].tolist() == stored["stage"].tolist()
    # the artifacts went to the server's store, not to the working directory
    assert not Path("mlruns").exists() or not any(Path("mlruns").iterdir())
