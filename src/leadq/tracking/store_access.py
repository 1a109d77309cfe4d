"""Opening an MLflow store safely, before any work is done with it.

`open_store(uri, create)` is called by every command that uses a store, first thing:

- the URI's scheme must be one MLflow can open (`sqlite:///FILE`, `http(s)://`, `postgresql://`,
  `file:` ...); anything else is one line naming the URI, before training starts;
- a command that only reads (`models`, `promote`, `predict`, `compare`) never creates a store:
  a `sqlite:///` file or `file:` folder that does not exist is "nothing registered there"
  (exit code 3), not a fresh empty store;
- a server is asked once for its experiments (few retries, short timeout) so an unreachable or
  wrong URI fails now, not after a whole training;
- a new SQLite store is only checked for (its folder can be created): it is created when first
  used, under an exclusive lock (`leadq.tracking.store.prepare_store`), so a training that stops
  on bad data leaves no empty store behind, and two trainings starting together on a new store
  do not both create its tables;
- a SQLite store whose folder was moved or copied still records its artifacts under the old
  folder; when the artifacts are found under the store's own `artifacts/` folder, the recorded
  locations are rewritten there (under the lock, in one transaction) and a warning says so.
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from leadq.core.errors import BadInputError, ModelNotFoundError
from leadq.tracking.store import ARTIFACTS_FOLDER, resolve_tracking_uri, sqlite_path, store_lock

KNOWN_SCHEMES = ("", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks",
                 "databricks-uc", "uc")
PROBE_RETRIES = "1"
PROBE_TIMEOUT_S = "10"
# Tables and columns of MLflow's SQL schema that hold artifact locations (MLflow 3.x).
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("logged_models", "artifact_location"), ("model_versions", "storage_location"))


def supported_schemes() -> tuple[str, ...]:
    """URI schemes MLflow can open as a tracking store here (its registry, plugins included)."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return tuple(_tracking_store_registry._registry)
    except (ImportError, AttributeError):  # pragma: no cover - MLflow moved its registry
        return KNOWN_SCHEMES


def _scheme(uri: str) -> str:
    scheme = urlparse(uri).scheme
    return "" if len(scheme) == 1 else scheme  # a Windows drive letter is a path


def _file_store_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


@contextmanager
def _few_retries() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = PROBE_RETRIES
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = PROBE_TIMEOUT_S
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _probe(uri: str) -> None:
    """Ask the store for one experiment and one registered model (creates a SQLite store's
    tables); any failure is one line naming the URI."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        with _few_retries():
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except (MlflowException, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInputError(f"--tracking-uri {uri}: cannot open the MLflow store ({first[:200]})") from None
    except Exception as exc:  # noqa: BLE001 - database drivers raise their own error types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadInputError(f"--tracking-uri {uri}: cannot open the MLflow store ({first[:200]})") from None


def open_store(tracking_uri: str, create: bool) -> list[str]:
    """Check (and with `create`, create) the store at `tracking_uri` before any work; returns
    warning lines (a moved store relocated). See the module docstring for each rule."""
    scheme = _scheme(tracking_uri)
    if scheme not in supported_schemes():
        raise BadInputError(
            f"--tracking-uri {tracking_uri}: MLflow cannot open a '{scheme}:' store "
            "(use sqlite:///FILE, http(s)://HOST:PORT, postgresql://... or a folder)"
        )
    db = sqlite_path(tracking_uri)
    if db is None and scheme in ("", "file"):
        folder = _file_store_path(tracking_uri)
        if not create and not folder.is_dir():
            raise ModelNotFoundError(f"no MLflow store at {folder} (no such folder); nothing is registered there")
        _probe(tracking_uri)
        return []
    if db is None:
        _probe(tracking_uri)
        return []
    if not create and not db.is_file():
        raise ModelNotFoundError(
            f"no MLflow store at {db} (no such file); nothing is registered there. Train a model first "
            "or check --tracking-uri"
        )
    existing = next((p for p in [db.parent, *db.parent.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise BadInputError(f"--tracking-uri {tracking_uri}: {existing} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise BadInputError(f"--tracking-uri {tracking_uri}: cannot create the store under {existing} (not writable)")
    if not db.is_file():
        return []  # created when first used (`leadq.tracking.store.prepare_store`), not before the work
    with store_lock(db):
        _probe(tracking_uri)
        return relocate_artifacts(db)


def existing_store(tracking_uri: str | None) -> tuple[str, list[str]]:
    """The resolved URI of a store a command only reads (never created), and its warning lines."""
    uri = resolve_tracking_uri(tracking_uri)
    return uri, open_store(uri, create=False)


def _recorded_roots(con: sqlite3.Connection) -> set[str]:
    """Artifact roots (`file://.../artifacts`) the experiments record, as written."""
    roots = set()
    for (location,) in con.execute("SELECT artifact_location FROM experiments"):
        if location and location.startswith("file://") and location.rstrip("/").endswith("/" + ARTIFACTS_FOLDER):
            roots.add(location.rstrip("/"))
    return roots


def _artifacts_are_here(con: sqlite3.Connection, old_root: str, new_root: Path) -> bool:
    """True when a run recorded under `old_root` has its artifact folder under `new_root`."""
    rows = con.execute("SELECT artifact_uri FROM runs WHERE substr(artifact_uri, 1, ?) = ? LIMIT 20",
                       [len(old_root) + 1, old_root + "/"]).fetchall()
    for (uri,) in rows:
        relative = uri[len(old_root) + 1:].split("/", 2)[:2]  # experiment id, run id
        if (new_root.joinpath(*relative)).is_dir():
            return True
    return False


def relocate_artifacts(db: Path) -> list[str]:
    """Point a moved or copied SQLite store's artifact locations at its own `artifacts/` folder
    (only when the artifacts are there); returns a warning line per root rewritten."""
    new_root_path = (db.parent / ARTIFACTS_FOLDER).resolve()
    if not new_root_path.is_dir():
        return []
    new_root = new_root_path.as_uri()
    warnings = []
    con = sqlite3.connect(db, timeout=60)
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            return []
        for old_root in sorted(_recorded_roots(con) - {new_root}):
            old_path = Path(unquote(urlparse(old_root).path))
            if old_path == new_root_path or not _artifacts_are_here(con, old_root, new_root_path):
                continue
            changed = 0
            with con:  # one transaction
                for table, column in ARTIFACT_COLUMNS:
                    if table not in tables:
                        continue
                    cursor = con.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                        f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                        [new_root, len(old_root) + 1, old_root, len(old_root) + 1, old_root + "/"],
                    )
                    changed += cursor.rowcount
            warnings.append(f"the MLflow store {db} was moved from {old_path.parent}: {changed} recorded "
                            f"artifact locations now point to {new_root_path}")
    finally:
        con.close()
    return warnings
