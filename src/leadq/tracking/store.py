"""Where MLflow keeps runs and models, and how a training run is logged.

Default store: `sqlite:///models/mlflow.db` with artifacts under `models/artifacts/`. MLflow
3.17 with a SQLite store writes artifacts to `./mlruns` unless the experiment has an
`artifact_location`, so experiments created here get one next to the database. A server URI
(http, https, databricks) leaves the location to the server's artifact root. Folders are
created on first use, never at import.
"""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///models/mlflow.db"
ARTIFACTS_FOLDER = "artifacts"


def resolve_tracking_uri(uri: str | None = None, config_uri: str | None = None) -> str:
    """The tracking URI to use: explicit `uri`, else the config's, else $MLFLOW_TRACKING_URI,
    else `sqlite:///models/mlflow.db` (relative to the working directory)."""
    return uri or config_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative or absolute), else None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])


def artifact_location(tracking_uri: str) -> str | None:
    """Artifact root for new experiments: `<db folder>/artifacts` as a file URI for a SQLite
    store; None (the server's or MLflow's own default) for anything else."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent / ARTIFACTS_FOLDER).resolve().as_uri()


_READY_STORES: set[str] = set()


@contextmanager
def store_lock(db: Path) -> Iterator[None]:
    """An exclusive lock on `db`'s lock file (`FILE.lock`), for creating or rewriting the store
    (a no-op where `fcntl` is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_store(tracking_uri: str) -> None:
    """Create a SQLite store's folder and tables if needed (lazily, when a command first uses the
    store), under `store_lock`: MLflow's table creation fails when a second process runs it at
    the same time on a new database."""
    db = sqlite_path(tracking_uri)
    if db is None or tracking_uri in _READY_STORES:
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with store_lock(db):
        mlflow_client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        mlflow_client.search_experiments(max_results=1)
        mlflow_client.search_registered_models(max_results=1)
    _READY_STORES.add(tracking_uri)


@contextmanager
def use_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (runs, log_model, registry) at `tracking_uri`, then restore
    the previous URIs and environment (a library call must not leave global state behind)."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    prepare_store(tracking_uri)
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
    saved_registry = getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        registry_utils._registry_uri = saved_registry
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def client(tracking_uri: str) -> MlflowClient:
    """An MlflowClient for both tracking and registry at `tracking_uri`."""
    prepare_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(name: str, tracking_uri: str) -> str:
    """The id of experiment `name`, created with the right artifact location if missing."""
    mlflow_client = client(tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow_client.create_experiment(name, artifact_location=artifact_location(tracking_uri))


def log_json(data: Any, artifact_file: str) -> None:
    """Log a JSON-serialisable object as an artifact of the active run."""
    mlflow.log_text(json.dumps(data, indent=2, default=str, sort_keys=False), artifact_file)


def flatten_params(prefix: str, data: Any) -> dict[str, str]:
    """Nested dicts as `prefix.key.sub` -> string value, for `mlflow.log_params`."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten_params(f"{prefix}.{key}" if prefix else str(key), value))
    else:
        text = json.dumps(data, default=str) if isinstance(data, list | tuple) else str(data)
        out[prefix] = text[:6000]
    return out


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder for files about to be logged (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="leadq-") as tmp:
        yield Path(tmp)
