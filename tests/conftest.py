"""Shared fixtures: one small generated funnel and one model trained on it, per test session."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machines: no OpenMP spinning
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from leadq.config import parse_config  # noqa: E402

SMALL_CONFIG = {
    "snapshots": {"leads_per_cutoff": 500},
    "candidates": {"hist_gradient_boosting": {"max_iter": 60}, "importance_rows": 300},
}


@dataclass
class TrainedStore:
    """A generated data folder and an MLflow store holding one trained, registered model."""

    data_dir: Path
    tracking_uri: str
    config_path: Path
    outcome: object


def small_config(extra: dict | None = None):
    """The small, fast training config the end-to-end tests share."""
    raw = {**SMALL_CONFIG, **(extra or {})}
    return parse_config(raw, "test config")


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedStore:
    """4,000 generated leads and a model trained, logged and registered on them (once)."""
    import yaml

    from leadq.steps.generate import generate_to_dir
    from leadq.steps.train import train_from_files

    root = tmp_path_factory.mktemp("trained")
    data_dir = root / "data"
    generate_to_dir(data_dir, n_leads=4000, seed=7)
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump(SMALL_CONFIG))
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    outcome = train_from_files(config_path, data_dir, tracking_uri)
    return TrainedStore(data_dir=data_dir, tracking_uri=tracking_uri, config_path=config_path, outcome=outcome)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the whole session (see tests/postgres_server.py)."""
    from postgres_server import find_bindir, start_server, stop_server

    pytest.importorskip("adbc_driver_postgresql", reason="the 'postgres' extra is not installed")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's 'postgresql'")
    server = start_server(bindir)
    yield server
    stop_server(server)


@pytest.fixture
def pg_url(postgres_server, request) -> str:
    """The URL of a new, empty database on the session's cluster, one per test."""
    import re

    from postgres_server import create_database

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return create_database(postgres_server, f"{name}_{id(request) % 10_000}")
