"""`leadq ui`: the MLflow UI server as a child process leadq owns.

`mlflow ui` is a supervisor: it starts uvicorn, which spawns its workers, and a job runner.
Terminating only the process leadq started (or only leadq) left those listening. So the server
runs in its own session and process group; SIGTERM, SIGINT and SIGHUP sent to leadq are
forwarded to the whole group; and whenever leadq stops, for whatever reason, the group is
terminated, then killed if anything in it outlives `stop_timeout_s`.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from leadq.core.errors import BadInputError

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_STOP_TIMEOUT_S = 10.0
POLL_S = 0.2
JOB_EXECUTION_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def server_command(tracking_uri: str, host: str, port: int, workers: int,
                   artifact_root: str | None) -> list[str]:
    """The `mlflow ui` command line for a store (run by this Python)."""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
               "--host", host, "--port", str(port), "--workers", str(workers)]
    if artifact_root:
        command += ["--default-artifact-root", artifact_root]
    return command


def require_free_port(host: str, port: int) -> None:
    """Fail with one line when something already listens on host:port (the server would only
    say so after its slow start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((host, port)) == 0:
            raise BadInputError(f"port {port} on {host} is in use; choose another with --port")


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is in process group `pgid`."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: zombies count as alive, which only makes us wait longer
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(pgid: int, timeout_s: float, signum: int = signal.SIGTERM,
               leader: subprocess.Popen | None = None) -> bool:
    """Send `signum` to the group, wait up to `timeout_s` for it to end, then SIGKILL what is
    left. Returns True when it ended without SIGKILL. `leader`, the group's first process when
    we started it, is reaped meanwhile (an unreaped leader would stay in the group)."""

    def wait_until(deadline: float) -> bool:
        while True:
            if leader is not None:
                leader.poll()
            if not group_alive(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)

    _signal_group(pgid, signum)
    if wait_until(time.monotonic() + timeout_s):
        return True
    _signal_group(pgid, signal.SIGKILL)
    wait_until(time.monotonic() + timeout_s)
    return False


def run_owned(command: Sequence[str], stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
              env: dict[str, str] | None = None, on_start: Callable[[int], None] | None = None) -> int:
    """Run `command` in its own process group until it exits or this process is told to stop;
    either way nothing of the group survives the return.

    SIGTERM, SIGINT and SIGHUP received meanwhile are forwarded to the group (a Ctrl-C in a
    terminal reaches only leadq, since the child is in its own session); a group still there
    `stop_timeout_s` after the first signal is killed. Returns 0 when stopped by such a signal,
    else the command's exit code. `on_start(pgid)` is called once the command started.
    """
    received: list[tuple[int, float]] = []  # (signal, monotonic time it arrived)
    group: list[int] = []  # the child's process group, once it exists

    def forward(signum, _frame) -> None:
        received.append((signum, time.monotonic()))
        if group:
            _signal_group(group[0], signum)

    # Handlers first: a signal arriving while the child starts must not kill only us.
    previous = {s: signal.signal(s, forward) for s in FORWARDED_SIGNALS}
    child = None
    try:
        child = subprocess.Popen(list(command), env=env, start_new_session=True)
        group.append(child.pid)  # a session leader leads its own group
        if received:
            _signal_group(child.pid, received[0][0])
        if on_start is not None:
            on_start(child.pid)
        while child.poll() is None:
            if received and time.monotonic() - received[0][1] > stop_timeout_s:
                break  # the server ignores the signal: stop_group kills it
            time.sleep(POLL_S)
    finally:
        if child is not None:
            stop_group(child.pid, stop_timeout_s, leader=child)
            child.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if received else int(child.returncode)


def serve_ui(tracking_uri: str, port: int, host: str = "127.0.0.1", workers: int = 1,
             on_start: Callable[[int], None] | None = None) -> int:
    """`leadq ui`: the MLflow UI for `tracking_uri` on host:port until stopped; returns the exit
    code (see `run_owned`). A SQLite store's artifacts are served from next to its database;
    MLflow's job execution is off unless $MLFLOW_SERVER_ENABLE_JOB_EXECUTION says otherwise."""
    from leadq.tracking.store import artifact_location

    require_free_port(host, port)
    command = server_command(tracking_uri, host, port, workers, artifact_location(tracking_uri))
    # MLflow's job execution (GenAI evaluation jobs) starts a runner and its consumer processes,
    # which browsing leadq's runs and registry does not use; a setting in the environment wins.
    env = {**os.environ}
    env.setdefault(JOB_EXECUTION_VARIABLE, "false")
    return run_owned(command, env=env, on_start=on_start)
