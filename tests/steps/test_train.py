"""End to end on generated data: train, the registry, predict, reasons and odd input."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from leadq.cli import app
from leadq.features.engine import build_features
from leadq.data.load import load_data
from leadq.steps.predict import predict_to_file
from leadq.tracking.pyfunc import load_model_artifacts
from leadq.models.reasons import feature_contributions
from leadq.tracking.store import use_tracking_uri

pytestmark = pytest.mark.slow  # the shared trained model
runner = CliRunner()
CHAMPION = "models:/lead-quality@champion"


def test_model_learned_more_than_one_feature(trained):
    result = trained.outcome.result
    test = result.test_examples
    for target in ("mql", "sql"):
        tm = result.targets[target]
        assert tm.test["roc_auc"] > 0.65
        assert tm.test["roc_auc"] <= tm.test["oracle_roc_auc"] + 0.01
        rows = test[test[f"label_{target}"].notna()]
        single = roc_auc_score(rows[f"label_{target}"], rows["pricing_view_30d"])
        assert tm.test["roc_auc"] > max(single, 1 - single) + 0.02
        assert tm.test["ece"] < 0.05


def test_run_is_logged_with_params_metrics_plots_and_model(trained):
    client = mlflow.MlflowClient(trained.tracking_uri)
    run = client.get_run(trained.outcome.run_id)
    result = trained.outcome.result
    assert run.data.metrics["test_roc_auc_sql"] == result.targets["sql"].test["roc_auc"]
    assert run.data.metrics["val_log_loss_mql"] == result.targets["mql"].validation["log_loss"]
    # the resolved config is logged as parameters
    assert run.data.params["horizon_days"] == "30" and run.data.params["snapshots.leads_per_cutoff"] == "500"
    assert run.data.params["candidates.hist_gradient_boosting.max_iter"] == "60"
    with use_tracking_uri(trained.tracking_uri):
        model = mlflow.pyfunc.load_model(CHAMPION)
        features = build_features(load_data(trained.data_dir), trained.outcome.spec, "2026-06-01")
        p = model.predict(features.head(50))
    assert list(p.columns) == ["p_mql", "p_sql"] and p.notna().all().all()


def test_models_and_promote_cli(trained):
    listed = runner.invoke(app, ["models", "--tracking-uri", trained.tracking_uri])
    assert listed.exit_code == 0, listed.output
    assert "champion" in listed.stdout and "sql (held out)" in listed.stdout
    missing = runner.invoke(app, ["promote", "lead-quality", "99", "--tracking-uri", trained.tracking_uri])
    assert missing.exit_code == 3
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "model 'lead-quality' has no version '99'; versions: 1;" in lines[0]
    assert "@champion -> 1" in lines[0]


@pytest.fixture(scope="module")
def scored(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "scores.csv"
    result = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--out", str(out),
                                 "--as-of", "2026-06-01", "--tracking-uri", trained.tracking_uri])
    assert result.exit_code == 0, result.output
    return out, pd.read_csv(out), result


def test_predict_output_is_what_a_crm_needs(trained, scored):
    out, table, result = scored
    assert list(table.columns) == ["lead_id", "current_stage", "p_mql", "p_sql", "score", "stage", "reasons",
                                   "model_name", "model_version", "as_of", "scored_at"]
    assert table["lead_id"].is_unique
    assert set(table["stage"]) <= {"SQL", "MQL", "nurture"}
    assert table["score"].between(0, 100).all()
    reached_sql = table["current_stage"] == "sql"
    assert table.loc[reached_sql, "p_sql"].isna().all() and (table.loc[reached_sql, "score"] == 100).all()
    open_ = table["p_sql"].notna()
    assert (table.loc[open_, "score"] == np.round(100 * table.loc[open_, "p_sql"])).all()
    assert table["reasons"].str.count(r"\((?:\+|-)\)").le(3).all()
    thresholds = trained.outcome.result.thresholds()  # the routing rule, by hand
    stage = np.where((table["current_stage"] == "sql") | (table["p_sql"] >= thresholds["sql"]), "SQL",
                     np.where((table["current_stage"] == "mql") | (table["p_mql"] >= thresholds["mql"]), "MQL",
                              "nurture"))
    assert table["stage"].tolist() == stage.tolist()
    assert (table["model_name"] == "lead-quality").all()
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    assert report["leads_scored"] == len(table)
    assert abs(sum(report["stage_share"].values()) - 1) < 1e-9
    assert "p_sql" in report["psi"] and len(report["psi"]) >= 5


def test_predict_scores_equal_the_trained_pipelines_probabilities(trained, scored):
    """`leadq predict` against scikit-learn's own `predict_proba` of the models training
    returned (not the pyfunc, which shares the scoring code)."""
    _, table, _ = scored
    result = trained.outcome.result
    features = build_features(load_data(trained.data_dir), trained.outcome.spec, "2026-06-01")
    expected = result.predict(features).set_index(features["lead_id"])
    mine = table.set_index("lead_id")
    assert list(mine.index) == list(features["lead_id"])
    for target, reached in (("mql", ["mql", "sql"]), ("sql", ["sql"])):
        open_ = ~mine["current_stage"].isin(reached)
        assert mine.loc[~open_, f"p_{target}"].isna().all()
        np.testing.assert_allclose(mine.loc[open_, f"p_{target}"], expected.loc[open_[open_].index, f"p_{target}"],
                                   rtol=1e-9)


def test_output_does_not_depend_on_chunk_size(trained, tmp_path):
    outs = []
    for chunk in (1000, 100_000):
        out = tmp_path / f"s{chunk}.parquet"
        predict_to_file(trained.data_dir, out, as_of="2026-06-01", tracking_uri=trained.tracking_uri,
                        chunk_rows=chunk)
        outs.append(pd.read_parquet(out).drop(columns=["scored_at"]))
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_reasons_are_honest(trained):
    """Moving a named feature to its training median moves p_sql the stated way for most leads."""
    artifacts = load_model_artifacts(CHAMPION, trained.tracking_uri)
    model = artifacts.load_pipelines()["sql"]
    spec = artifacts.spec
    columns = spec.feature_columns()
    features = build_features(load_data(trained.data_dir), spec, "2026-06-01").head(400)
    contributions = feature_contributions(model, features, columns)
    medians = trained.outcome.result.train_sample[columns].median(numeric_only=True)
    base = model.predict_proba(features[columns])[:, 1]
    agree = total = 0
    for name in medians.index[:]:
        strongest = contributions[name].abs() >= contributions.abs().max(axis=1) - 1e-12
        rows = strongest & (contributions[name].abs() > 1e-3) & (features[name] != medians[name])
        if rows.sum() == 0:
            continue
        moved = features.loc[rows, columns].copy()
        moved[name] = medians[name]
        change = base[rows.to_numpy()] - model.predict_proba(moved)[:, 1]
        agree += int((np.sign(change) == np.sign(contributions.loc[rows, name])).sum())
        total += int(rows.sum())
    assert total > 50
    assert agree / total > 0.8


def test_unknown_model_lists_what_exists(trained, tmp_path):
    result = runner.invoke(app, ["predict", "--data", str(trained.data_dir), "--out", str(tmp_path / "x.csv"),
                                 "--model", "lead-quality@nope", "--tracking-uri", trained.tracking_uri])
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "champion" in lines[0]
    assert not (tmp_path / "x.csv").exists()


def _odd_copy(trained, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    leads = pd.read_parquet(trained.data_dir / "leads.parquet")
    events = pd.read_parquet(trained.data_dir / "events.parquet")
    outcomes = pd.read_parquet(trained.data_dir / "outcomes.parquet")
    return folder, leads, events, outcomes


def test_odd_input_is_scored_not_an_error(trained, tmp_path):
    folder, leads, events, outcomes = _odd_copy(trained, tmp_path)
    silent = leads.iloc[:5].assign(lead_id=[f"NEW{i}" for i in range(5)],
                                   created_at=pd.Timestamp("2026-05-01", tz="UTC"))
    silent.loc[silent.index[0], "industry"] = "Underwater basket weaving"  # unseen category
    leads = pd.concat([leads, silent], ignore_index=True)
    strange = events.iloc[:3].assign(event_type="podcast_listen")  # unseen event type
    ghost = events.iloc[:2].assign(lead_id="GHOST")  # events for an unknown lead
    events = pd.concat([events, strange, ghost], ignore_index=True)
    for name, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
        frame.to_parquet(folder / f"{name}.parquet")
    out = tmp_path / "odd.csv"
    result = runner.invoke(app, ["predict", "--data", str(folder), "--out", str(out), "--as-of", "2026-06-01",
                                 "--tracking-uri", trained.tracking_uri])
    assert result.exit_code == 0, result.output
    assert "dropped 2 events for unknown leads" in result.stderr
    table = pd.read_csv(out).set_index("lead_id")
    assert table.loc[[f"NEW{i}" for i in range(5)], "p_sql"].notna().all()


def test_empty_leads_table_gives_header_only(trained, tmp_path):
    folder, leads, events, outcomes = _odd_copy(trained, tmp_path)
    leads.iloc[:0].to_parquet(folder / "leads.parquet")
    events.iloc[:0].to_parquet(folder / "events.parquet")
    outcomes.iloc[:0].to_parquet(folder / "outcomes.parquet")
    out = tmp_path / "empty.csv"
    result = runner.invoke(app, ["predict", "--data", str(folder), "--out", str(out),
                                 "--tracking-uri", trained.tracking_uri])
    assert result.exit_code == 0, result.output
    assert "0 leads scored" in result.stdout
    table = pd.read_csv(out)
    assert len(table) == 0 and "p_sql" in table.columns and "reasons" in table.columns


def test_interrupted_run_leaves_no_output(trained, tmp_path, monkeypatch):
    import leadq.scoring.predict as predict_module

    out = tmp_path / "scores.csv"
    out.write_text("previous night's file\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_module, "top_reasons", crash)
    with pytest.raises(KeyboardInterrupt):
        predict_to_file(trained.data_dir, out, as_of="2026-06-01", tracking_uri=trained.tracking_uri)
    assert out.read_text() == "previous night's file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_more_buying_signals_never_lower_p_sql(trained):
    """Behaviour: adding a demo request or recent pricing views to many leads' histories never
    lowers their p_sql."""
    from leadq.data.load import load_frames

    data_dir = trained.data_dir
    leads = pd.read_parquet(data_dir / "leads.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    outcomes = pd.read_parquet(data_dir / "outcomes.parquet")
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    artifacts = load_model_artifacts(CHAMPION, trained.tracking_uri)
    model = artifacts.load_pipelines()["sql"]
    columns = artifacts.spec.feature_columns()
    clock = pd.Timestamp("2030-01-01", tz="UTC")
    before = build_features(load_frames(leads, events, outcomes, clock=clock), artifacts.spec, as_of)
    chosen = before["lead_id"].iloc[::7].to_numpy()
    for event_type, hours in (("demo_request", [5]), ("pricing_view", [30, 6])):
        extra = pd.DataFrame([
            {"lead_id": lead, "ts": as_of - pd.Timedelta(hours=h), "event_type": event_type,
             "duration_s": 900.0 if event_type == "pricing_view" else np.nan, "page": "/pricing",
             "content_id": None, "channel": "direct"}
            for lead in chosen for h in hours
        ])
        more = pd.concat([events, extra], ignore_index=True)
        after = build_features(load_frames(leads, more, outcomes, clock=clock), artifacts.spec, as_of)
        b = before.set_index("lead_id").loc[chosen, columns]
        a = after.set_index("lead_id").loc[chosen, columns]
        p_before = model.predict_proba(b)[:, 1]
        p_after = model.predict_proba(a)[:, 1]
        assert (p_after >= p_before - 1e-9).all(), (event_type, float((p_after - p_before).min()))
