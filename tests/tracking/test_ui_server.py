"""`leadq ui` owns its server: stopping leadq leaves nothing listening and no process behind.

Real subprocesses, since signals and process groups are the point. The fast tests run a stand-in
server shaped like the one that leaked (a supervisor whose worker ignores SIGTERM and keeps
listening); the slow one runs the real MLflow UI on a trained store and reads the registry's
description and tags through its REST API.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadq.cli import app

STAND_IN = '''
import signal, socket, subprocess, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "worker":  # a worker that ignores polite signals and keeps listening
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    while True:
        connection, _ = server.accept()
        connection.close()
worker = subprocess.Popen([sys.executable, __file__, str(port), "worker"])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the supervisor leaves, its worker stays
if mode == "crash":
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    sys.exit(3)
while True:
    time.sleep(1)
'''
OWNER = ("import sys; from leadq.tracking.ui_server import run_owned; "
         "sys.exit(run_owned(sys.argv[1:], stop_timeout_s=1.0, on_start=lambda g: print(g, flush=True)))")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def live_members(pgid: int) -> list[str]:
    """Processes of group `pgid` that are not zombies, as `ps` sees them."""
    out = subprocess.run(["ps", "-e", "-o", "pgid=,stat=,pid=,args="], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines()
            if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z")]


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _start_owner(tmp_path: Path, port: int, mode: str) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    owner = subprocess.Popen([sys.executable, "-c", OWNER, sys.executable, str(script), str(port), mode],
                             stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    pgid = int(owner.stdout.readline())
    return owner, pgid


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_owner_stops_the_whole_server_group(tmp_path, signum):
    port = free_port()
    owner, pgid = _start_owner(tmp_path, port, "serve")
    try:
        wait_for(lambda: listening(port), 60, "the stand-in worker to listen")
        assert pgid != os.getpgid(owner.pid)  # the server has a group of its own
        assert len(live_members(pgid)) == 2  # supervisor and worker
        owner.send_signal(signum)
        assert owner.wait(timeout=60) == 0
        assert not listening(port)
        assert live_members(pgid) == []
    finally:
        owner.kill()
        if live_members(pgid):
            os.killpg(pgid, signal.SIGKILL)


def test_a_server_that_exits_takes_its_workers_with_it(tmp_path):
    port = free_port()
    owner, pgid = _start_owner(tmp_path, port, "crash")
    try:
        assert owner.wait(timeout=60) == 3  # the server's own exit code
        assert not listening(port)
        assert live_members(pgid) == []
    finally:
        owner.kill()
        if live_members(pgid):
            os.killpg(pgid, signal.SIGKILL)


def test_ui_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["ui", "--port", str(port), "--tracking-uri",
                                          f"sqlite:///{tmp_path / 'mlflow.db'}"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use; choose another with --port"]
    assert not (tmp_path / "mlflow.db").exists()


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _server_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_leadq_ui_serves_the_described_registry_and_stops_on_sigterm(trained, tmp_path):
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "leadq", "ui", "--port", str(port),
         "--tracking-uri", trained.tracking_uri],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    server_pgid = None
    try:
        assert ui.stdout.readline().startswith(f"MLflow UI on http://127.0.0.1:{port} for ")
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(ui.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) == 1
        server_pgid = int(children[0])
        wait_for(lambda: _server_answers(port), 300, "the MLflow UI to answer")

        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        model = _get_json(f"{api}/registered-models/get?name=lead-quality")["registered_model"]
        assert "within **30 days** of the scoring cutoff" in model["description"]
        assert "`leadq predict --model lead-quality@champion" in model["description"]
        version = _get_json(f"{api}/model-versions/get?name=lead-quality&version=1")["model_version"]
        tags = {t["key"]: t["value"] for t in version["tags"]}
        run = _get_json(f"{api}/runs/get?run_id={trained.outcome.run_id}")["run"]
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert tags["gate.verdict"] == "promoted"
        assert tags["test.sql.roc_auc"] == f"{metrics['test_roc_auc_sql']:.4f}"
        assert tags["test.mql.log_loss"] == f"{metrics['test_log_loss_mql']:.4f}"
        assert version["description"].startswith(
            f"promoted · test ROC AUC mql {metrics['test_roc_auc_mql']:.4f}, sql {metrics['test_roc_auc_sql']:.4f} · ")

        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        assert not listening(port)
        assert live_members(server_pgid) == []
    finally:
        ui.kill()
        if server_pgid is not None and live_members(server_pgid):
            os.killpg(server_pgid, signal.SIGKILL)
