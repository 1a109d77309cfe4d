"""Shared fixtures: one small generated funnel and one model trained on it, one SparkSession and
the feature engines, per test session; and a guard that fails any test leaving global state
behind (environment variables, the working directory, MLflow's tracking and registry URIs)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machines: no OpenMP spinning
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage reports from test runs

import shutil  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import Phase, settings  # noqa: E402

from leadq.config import parse_config  # noqa: E402

MEMORY_ROOT = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Put the session's `tmp_path` folders in shared memory when it has room and no
    `--basetemp` is given (see scratch_space.py); xdist's workers get a folder each inside it."""
    import tempfile

    from scratch_space import shared_memory_folder

    if config.option.basetemp or hasattr(config, "workerinput") or shared_memory_folder() is None:
        return
    root = Path(tempfile.mkdtemp(prefix="leadq-tests-", dir=shared_memory_folder()))
    config.option.basetemp = str(root / "basetemp")
    config.stash[MEMORY_ROOT] = root


def pytest_sessionfinish(session, exitstatus):
    """Free the shared memory after a passing run; after a failing one, keep the files and say
    where they are."""
    root = session.config.stash.get(MEMORY_ROOT, None)
    if root is None:
        return
    if exitstatus == 0:
        shutil.rmtree(root, ignore_errors=True)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"the tests' tmp_path folders are kept in {root} (shared memory: remove it when done)")


# For mutation runs (tools/mutation_score.py): the same examples every run and no shrinking, since
# a killed mutant needs one failing example, not the smallest.
settings.register_profile("mutation", derandomize=True, database=None,
                          phases=(Phase.explicit, Phase.reuse, Phase.generate))

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


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run (starting a JVM takes seconds), tuned for tiny
    data (one shuffle partition, no adaptive execution) and for a short-lived JVM: the quick
    (C1) JIT compiler only and the serial collector, which change how fast the same bytecode
    warms up, not what it computes (a Spark test's first passes took half as long). Skips
    without pyspark or Java."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'leadq[spark]')")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        pytest.skip("no Java runtime on PATH (the Spark engine needs Java 17+)")
    from leadq.spark.session import spark_session

    session = spark_session(
        master="local[2]", app_name="leadq-tests", shuffle_partitions=1,
        conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.adaptive.enabled": "false",
              # leadq's own -Duser.timezone=UTC, plus the JIT and collector for a short run
              "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session", params=[
    "in_process", "sql", pytest.param("spark", marks=pytest.mark.slow),
])
def engine(request):
    """Each feature engine behind one interface (`feature_engines.FeatureEngine`): the in-process
    numpy engine, the Spark engine's compiled SQL run by DuckDB, and Spark itself."""
    from feature_engines import InProcessEngine, SparkEngine, SqlOnDuckDBEngine

    if request.param == "spark":
        return SparkEngine(request.getfixturevalue("spark"))
    return InProcessEngine() if request.param == "in_process" else SqlOnDuckDBEngine()


@pytest.fixture(scope="session", autouse=True)
def mlflow_tables_from_the_first_new_store():
    """A new SQLite MLflow store gets its tables as the first new store of the session got them.

    MLflow creates a new database's tables by running its ~70 Alembic migrations, about 5 s a
    store here, and many tests make their own store under tmp_path. The first new store of the
    session is migrated for real; its schema and rows (the Alembic revision, the default
    workspace) are then written into every later new SQLite store in one SQL script: the same
    tables at the same revision (MLflow still checks the revision, `_verify_schema`), and MLflow
    still adds the default experiment itself, where it would. Stores created in subprocesses
    (servers, the CLI as a process, the two-process race in test_store_access) migrate for real.
    """
    from mlflow.store.db import utils as db_utils
    from mlflow.store.model_registry import sqlalchemy_store as registry_store

    migrate = db_utils._initialize_tables
    script: list[str] = []

    def initialize_tables(engine):
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return migrate(engine)
        if not script:
            migrate(engine)
            import sqlite3
            from contextlib import closing

            with closing(sqlite3.connect(database)) as con:
                script.append("\n".join(con.iterdump()))
            return None
        raw = engine.raw_connection()
        try:
            raw.driver_connection.executescript(script[0])
        finally:
            raw.close()
        return None

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db_utils, "_initialize_tables", initialize_tables)
        mp.setattr(registry_store, "_initialize_tables", initialize_tables)
        yield


def _global_state() -> dict:
    import mlflow

    return {
        "environment": {k: v for k, v in os.environ.items()
                        if k != "PYTEST_CURRENT_TEST" and not k.startswith("KMP_")},  # OpenMP runtime settings libraries set on first import
        "working directory": os.getcwd(),
        "MLflow tracking URI": mlflow.get_tracking_uri(),
        "MLflow registry URI": mlflow.get_registry_uri(),
    }


@pytest.fixture(autouse=True)
def no_leaked_global_state():
    """Fail the test that changes the environment, the working directory or MLflow's URIs and
    does not restore them (use monkeypatch or `leadq.tracking.store.use_tracking_uri`)."""
    before = _global_state()
    yield
    after = _global_state()
    leaked = []
    for what, value in before.items():
        if what == "environment":
            changed = sorted(k for k in set(value) | set(after[what]) if value.get(k) != after[what].get(k))
            if changed:
                leaked.append(f"environment variables {changed}")
        elif after[what] != value:
            leaked.append(f"{what} {value!r} -> {after[what]!r}")
    if leaked:
        pytest.fail("test left global state behind: " + "; ".join(leaked), pytrace=False)
