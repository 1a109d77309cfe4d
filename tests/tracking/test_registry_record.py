"""Descriptions and tags written to a real MLflow store (under tmp_path), read back by MLflow's
own client and by `leadq models` / `leadq promote` through the CLI. No training: versions are
registered by hand, as a training (or a training killed after registering) leaves them."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app
from leadq.tracking.registry_record import describe_model, describe_registration, promote_by_hand, versions_overview
from leadq.tracking.store import client, ensure_experiment
from registry_facts import facts

NAME = "lead-quality"
REASON_1 = "no champion yet: the first version becomes champion"
REASON_2 = "not promoted: test_log_loss_sql 0.1010 >= champion v1 0.0998 - margin 0.001"
runner = CliRunner()


def _register(uri: str, run_tags: dict | None = None) -> str:
    """A new version of NAME on a new run, the way `mlflow.register_model` leaves it."""
    mlflow_client = client(uri)
    run = mlflow_client.create_run(ensure_experiment("leadq", uri))
    for key, value in (run_tags or {}).items():
        mlflow_client.set_tag(run.info.run_id, key, value)
    mlflow_client.set_terminated(run.info.run_id)
    if not mlflow_client.search_registered_models(f"name='{NAME}'"):
        mlflow_client.create_registered_model(NAME)
    return str(mlflow_client.create_model_version(NAME, f"{run.info.artifact_uri}/model", run.info.run_id).version)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty, migrated SQLite store (creating the schema takes seconds; copying it does not)."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    client(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(empty_store, db)
    return f"sqlite:///{db}"


def test_registration_is_described_on_the_version_and_the_model(store):
    version = _register(store)
    describe_registration(facts(), version, True, REASON_1, store)
    mlflow_client = client(store)
    mv = mlflow_client.get_model_version(NAME, version)
    assert mv.tags["gate.verdict"] == "promoted" and mv.tags["gate.reason"] == REASON_1
    assert mv.tags["test.sql.log_loss"] == "0.0998" and mv.tags["data.range"] == "2025-01-05 to 2025-03-30"
    assert mv.tags["targets"] == "mql,sql" and mv.tags["horizon_days"] == "30"
    assert mv.description.startswith("promoted · test ROC AUC mql 0.8123, sql 0.8581 · 2025-01-05 to 2025-03-30\n\n"
                                      "**Version 1** predicts")
    assert f"**Gate:** {REASON_1}" in mv.description
    model = mlflow_client.get_registered_model(NAME)
    assert "within **30 days**" in model.description
    assert "`leadq predict --model lead-quality@champion" in model.description


def test_model_description_follows_the_config_but_not_a_hand_edit(store):
    _register(store)
    mlflow_client = client(store)
    assert describe_model(facts(), store) is True
    assert describe_model(facts(run_id="another run"), store) is False  # same configuration
    assert describe_model(facts(horizon_days=14), store) is True
    assert "within **14 days**" in mlflow_client.get_registered_model(NAME).description
    mlflow_client.update_registered_model(NAME, description="Owned by the growth team.")
    assert describe_model(facts(horizon_days=60), store) is False
    assert mlflow_client.get_registered_model(NAME).description == "Owned by the growth team."


def test_promote_records_who_and_when(store):
    v1, v2 = _register(store), _register(store)
    describe_registration(facts(), v1, True, REASON_1, store)
    client(store).set_registered_model_alias(NAME, "champion", v1)
    describe_registration(facts(), v2, False, REASON_2, store)
    when = pd.Timestamp("2026-07-01 11:30:05", tz="Europe/Paris")
    assert promote_by_hand(NAME, v2, store, user="alice", when=when) == v1
    mlflow_client = client(store)
    assert str(mlflow_client.get_model_version_by_alias(NAME, "champion").version) == v2
    mv = mlflow_client.get_model_version(NAME, v2)
    assert (mv.tags["promoted_by"], mv.tags["promoted_at"], mv.tags["promoted_from"]) == (
        "alice", "2026-07-01 09:30:05 UTC", "1")
    assert mv.description.startswith("not promoted · test ROC AUC")  # the training's text is kept
    assert "\n\n**Version 2** predicts" in mv.description
    assert mv.description.endswith(
        "**Promoted by hand** to champion by alice at 2026-07-01 09:30:05 UTC (champion was version 1).")
    assert mv.tags["gate.verdict"] == "not promoted"  # the gate's own verdict stays on record


def test_promote_cli_takes_the_user_from_the_environment(store, monkeypatch):
    version = _register(store)
    for variable in ("LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("USER", "bob")
    result = runner.invoke(app, ["promote", NAME, version, "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{NAME}: champion is now version 1"
    tags = client(store).get_model_version(NAME, version).tags
    assert tags["promoted_by"] == "bob" and tags["promoted_from"] == "none"
    stamp = pd.Timestamp(tags["promoted_at"].removesuffix(" UTC"), tz="UTC")
    assert abs(pd.Timestamp.now(tz="UTC") - stamp) < pd.Timedelta(minutes=5)


def test_models_shows_verdicts_incomplete_versions_and_realized_figures(store):
    v1 = _register(store)
    describe_registration(facts(), v1, True, REASON_1, store)
    client(store).set_registered_model_alias(NAME, "champion", v1)
    # Registered before version tags existed: the decision is on the run.
    v2 = _register(store, {"leadq.gate.promoted": "False", "leadq.gate.version": "2",
                           "leadq.gate.reason": REASON_2})
    # A training killed right after registering: no alias, no gate record.
    v3 = _register(store)
    mlflow_client = client(store)
    for key, value in {"realized.sql.roc_auc": "0.7912", "realized.as_of": "2026-07-31",
                       "monitor.verdict": "retrain"}.items():
        mlflow_client.set_model_version_tag(NAME, v1, key, value)

    overview = versions_overview(NAME, store).set_index("version")
    assert list(overview["gate"]) == ["promoted", "not promoted", "incomplete"]
    assert overview.loc[2, "reason"] == REASON_2 and overview.loc[3, "reason"] == ""
    assert overview.loc[1, "realized"] == "sql ROC AUC 0.7912 as of 2026-07-31; verdict retrain"
    assert overview.loc[1, "data_range"] == "2025-01-05 to 2025-03-30"
    assert overview.loc[1, "fingerprint"] == "0123456789abcdef"

    result = runner.invoke(app, ["models", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    rows = _table_rows(result.stdout)
    assert set(rows) == {v1, v2, v3}
    assert "champion" in rows[v1] and " promoted " in rows[v1]
    assert "sql ROC AUC 0.7912" in rows[v1] and "as of 2026-07-31" in rows[v1] and "verdict retrain" in rows[v1]
    assert "not promoted" in rows[v2] and "incomplete" in rows[v3]
    lines = result.stdout.splitlines()
    assert f"v1: {REASON_1}" in lines and f"v2: {REASON_2}" in lines
    assert any(line.startswith("v3: registered without a recorded gate decision") for line in lines)

    # `leadq promote` settles an incomplete version: it now says who made it champion.
    promote_by_hand(NAME, v3, store, user="carol", when=pd.Timestamp("2026-08-01", tz="UTC"))
    result = runner.invoke(app, ["models", "--tracking-uri", store])
    assert "by hand: carol" in _table_rows(result.stdout)[v3]
    assert "2026-08-01 00:00" in _table_rows(result.stdout)[v3]


def _table_rows(text: str) -> dict[str, str]:
    """Version -> the text of its (possibly multi-line) row in a Rich table."""
    rows: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("│"):
            current = None
            continue
        first = line.split("│")[1].strip()
        if first:
            current = first
        if current is not None:
            rows[current] = rows.get(current, "") + line + "\n"
    return rows


def test_models_of_an_unknown_name_is_exit_3(store):
    _register(store)
    result = runner.invoke(app, ["models", "--name", "nope", "--tracking-uri", store])
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"error: no registered model 'nope' at {store}; registered models: {NAME}"]


@pytest.mark.slow
def test_a_training_says_what_its_version_is(trained):
    """The version a real training registered, checked against the data files and the run."""
    uri, version = trained.tracking_uri, trained.outcome.version
    tables = {t: pd.read_parquet(trained.data_dir / f"{t}.parquet") for t in ("leads", "events", "outcomes")}
    first, last = pd.to_datetime(tables["events"]["ts"], utc=True).agg(["min", "max"])
    mlflow_client = client(uri)
    mv = mlflow_client.get_model_version(NAME, version)
    run = mlflow_client.get_run(trained.outcome.run_id)
    assert mv.tags["data.range"] == f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
    assert mv.tags["data.rows"] == ", ".join(f"{len(tables[t]):,} {t}" for t in ("leads", "events", "outcomes"))
    for target in ("mql", "sql"):
        for metric in ("roc_auc", "pr_auc", "log_loss"):
            assert mv.tags[f"test.{target}.{metric}"] == f"{run.data.metrics[f'test_{metric}_{target}']:.4f}"
    assert mv.tags["gate.verdict"] == "promoted"
    assert mv.tags["gate.reason"] == "no champion yet: the first version becomes champion"
    params = run.data.params
    assert (f"test window: {params['split.test_cutoffs']} cutoffs {params['split.test_first'][:10]} to "
            f"{params['split.test_last'][:10]}, {int(params['rows.test']):,} examples") in mv.description
    assert "within **30 days**" in mlflow_client.get_registered_model(NAME).description

    result = runner.invoke(app, ["models", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    row = _table_rows(result.stdout)[version]
    assert f"ROC AUC  {run.data.metrics['test_roc_auc_sql']:.4f}" in row and "promoted" in row
