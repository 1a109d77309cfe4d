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
