"""`leadq monitor` end to end: a model trained on the history known at T0, weekly scoring runs
after it on unshifted data and on data whose conversion rates drop after a date; the drift
reference is like for like (scoring the training data raises no alarm, a shifted funnel does)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadq.cli import app
from leadq.data.synth import DEFAULT_END
from leadq.models.drift import PSI_WARNING

pytestmark = pytest.mark.slow
runner = CliRunner()
HORIZON = pd.Timedelta(days=30)
T0 = (DEFAULT_END - pd.Timedelta(days=87)).floor("D")  # the history the model knows ends here
RUNS = [T0 + pd.Timedelta(days=d) for d in (7, 14, 49, 56)]  # outcomes known for all four
SHIFT_AT = T0 + pd.Timedelta(days=45)  # after the horizons of runs 1-2, before runs 3-4
PENDING = DEFAULT_END - pd.Timedelta(days=10)
SMALL = {"snapshots": {"leads_per_cutoff": 500, "end": T0.isoformat()},
         "candidates": {"hist_gradient_boosting": {"max_iter": 60}, "importance_rows": 300},
         "monitor": {"bootstrap_resamples": 200}}  # read back from the config logged with the model


def invoke(args):
    return runner.invoke(app, [str(a) for a in args])


def _tags(uri):
    return dict(mlflow.MlflowClient(uri, registry_uri=uri).get_model_version("lead-quality", "1").tags)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Unshifted and conversion-shifted data (same seed), a model trained at T0, scoring runs on
    both, and `leadq monitor` over each (with the version's tags after each pass)."""
    root = tmp_path_factory.mktemp("monitor")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for name, shift in (("plain", []), ("shifted", ["--shift", "conversion", "--shift-after", SHIFT_AT.isoformat()])):
        result = invoke(["generate", "--out", root / name, "--leads", 4000, "--seed", 5, *shift])
        assert result.exit_code == 0, result.output
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    result = invoke(["train", "--config", config, "--data", root / "plain", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    passes = {}
    for name in ("plain", "shifted"):
        for as_of in [*RUNS, PENDING]:
            result = invoke(["predict", "--data", root / name, "--out", root / f"scores_{name}" / f"{as_of.date()}.csv",
                             "--as-of", as_of.isoformat(), "--model", "lead-quality/1", "--tracking-uri", uri])
            assert result.exit_code == 0, result.output
        result = invoke(["monitor", "--scores", root / f"scores_{name}", "--data", root / name,
                         "--out", root / f"monitor_{name}", "--tracking-uri", uri])
        passes[name] = (result, pd.read_csv(root / f"monitor_{name}" / "monitor.csv"), _tags(uri))
    return root, uri, passes


def test_unshifted_scores_keep_the_test_windows_ranking(store):
    _, _, passes = store
    result, table, _ = passes["plain"]
    assert result.exit_code == 0, result.output
    assert "lead-quality v1: OK" in result.stdout
    evaluated = table[~table["pending"]]
    assert len(evaluated) == 2 * len(RUNS) and (evaluated["status"] == "ok").all()
    for target, part in evaluated.groupby("target"):
        assert part["test_roc_auc_lo"].iloc[0] <= part["roc_auc"].mean() <= part["test_roc_auc_hi"].iloc[0], target
        assert (part["roc_auc_hi"] >= part["test_roc_auc_lo"]).all()
    assert (table["psi_score"] < PSI_WARNING).all()


def test_pending_runs_are_listed_not_scored(store):
    _, _, passes = store
    table = passes["plain"][1]
    pending = table[pd.to_datetime(table["as_of"]) == PENDING]
    assert pending["pending"].all() and (pending["status"] == "pending").all()
    assert pending["roc_auc"].isna().all() and pending["psi_score"].notna().all()
    assert not table[pd.to_datetime(table["as_of"]) < PENDING]["pending"].any()


def test_realized_figures_are_the_scores_against_the_outcomes(store):
    """The first run's sql figures recomputed by hand from the score file and the outcomes."""
    from sklearn.metrics import roc_auc_score

    root, _, passes = store
    table = passes["plain"][1]
    scores = pd.read_csv(root / "scores_plain" / f"{RUNS[0].date()}.csv", dtype={"lead_id": str})
    outcomes = pd.read_parquet(root / "plain" / "outcomes.parquet")
    sql = outcomes[outcomes["stage"].isin(["sql", "customer"])].groupby("lead_id")["reached_at"].min()
    reached = scores["lead_id"].map(sql)
    open_rows = scores["p_sql"].notna()
    y = ((reached > RUNS[0]) & (reached <= RUNS[0] + HORIZON))[open_rows].astype(float)
    p = scores.loc[open_rows, "p_sql"]
    row = table[(pd.to_datetime(table["as_of"]) == RUNS[0]) & (table["target"] == "sql")].iloc[0]
    assert row["n"] == open_rows.sum() and row["positives"] == y.sum()
    assert row["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert row["observed_to_predicted"] == pytest.approx(y.sum() / p.sum())
    routed = scores.loc[open_rows, "stage"] == "SQL"
    assert row["precision"] == pytest.approx((y * routed).sum() / routed.sum())


def test_a_conversion_drop_is_flagged_after_the_shift_only(store):
    _, _, passes = store
    result, table, tags = passes["shifted"]
    assert result.exit_code == 0, result.output  # recalibrate is not retrain
    status = dict(zip(pd.to_datetime(table["as_of"]), table["status"]))
    assert [status[d] for d in RUNS] == ["ok", "ok", "recalibrate", "recalibrate"]
    after = table[pd.to_datetime(table["as_of"]).isin(RUNS[2:])]
    assert (after["observed_to_predicted_hi"] < 0.8).all() and not after["ranking_below"].any()
    assert tags["monitor.verdict"] == "recalibrate"
    assert "RECALIBRATE" in result.stdout


def test_the_version_carries_the_latest_realized_figures(store):
    root, uri, passes = store
    _, table, tags = passes["plain"]
    latest = table[pd.to_datetime(table["as_of"]) == RUNS[-1]].set_index("target")
    assert tags["monitor.verdict"] == "ok"
    assert pd.Timestamp(tags["realized.as_of"]) == RUNS[-1]
    for target in ("mql", "sql"):
        assert tags[f"realized.{target}.roc_auc"] == f"{latest.loc[target, 'roc_auc']:.4f}"
        assert tags[f"realized.{target}.precision"] == f"{latest.loc[target, 'precision']:.4f}"
    client = mlflow.MlflowClient(uri)
    history = client.get_metric_history(tags["monitor.run_id"], "realized_roc_auc_sql")
    assert [m.step for m in history] == list(range(len(RUNS)))
    assert [pd.Timestamp(m.timestamp, unit="ms", tz="UTC") for m in history] == RUNS
    assert {"report.html", "monitor.csv", "calibration.csv"} <= {
        a.path for a in client.list_artifacts(tags["monitor.run_id"])}


def test_report_is_self_contained(store):
    root, _, _ = store
    page = (root / "monitor_shifted" / "report.html").read_text()
    assert "recalibrate" in page and page.count("data:image/png;base64,") >= 5
    assert "http://" not in page and "https://" not in page
    calibration = pd.read_csv(root / "monitor_shifted" / "calibration.csv")
    assert {"test window", RUNS[0].isoformat()} <= set(calibration["as_of"])


def test_drift_over_the_limit_for_n_runs_exits_with_the_retrain_code(store, tmp_path):
    root, uri, _ = store
    for exit_on_retrain, code in ((True, 7), (False, 0)):
        config = tmp_path / f"monitor_{exit_on_retrain}.yaml"
        config.write_text(yaml.safe_dump({"monitor": {"psi_limit": 1e-6, "psi_runs": 2, "bootstrap_resamples": 50,
                                                      "retrain_exit_code": exit_on_retrain}}))
        result = invoke(["monitor", "--scores", root / "scores_plain", "--data", root / "plain", "--config", config,
                         "--out", tmp_path / f"out_{exit_on_retrain}", "--tracking-uri", uri])
        assert result.exit_code == code, result.output
        assert "RETRAIN - PSI over 1e-06 in the last 5 scoring runs" in result.stdout


def test_bad_input_is_one_line_and_nothing_is_written(store, tmp_path):
    root, uri, _ = store
    scores = pd.read_csv(root / "scores_plain" / f"{RUNS[0].date()}.csv")
    scores.drop(columns="as_of").to_csv(tmp_path / "no_as_of.csv", index=False)
    scores.assign(model_version="99").to_csv(tmp_path / "v99.csv", index=False)
    cases = [(tmp_path / "no_as_of.csv", 2, "no_as_of.csv: required column 'as_of' is missing in all"),
             (tmp_path / "missing.csv", 2, "missing.csv: no such score file"),
             (tmp_path / "v99.csv", 3, "has no version '99'")]
    for path, code, message in cases:
        out = tmp_path / f"out_{path.stem}"
        result = invoke(["monitor", "--scores", path, "--data", root / "plain", "--out", out, "--tracking-uri", uri])
        assert result.exit_code == code, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
        assert not out.exists() or not any(out.iterdir())


def test_scoring_the_training_data_as_of_its_own_cutoff_raises_no_drift(trained, tmp_path):
    last_test_cutoff = trained.outcome.result.split.test[-1]
    for as_of in (last_test_cutoff, None):
        out = tmp_path / f"scores_{as_of is None}.csv"
        args = ["predict", "--data", trained.data_dir, "--out", out, "--tracking-uri", trained.tracking_uri]
        result = invoke(args + (["--as-of", as_of.isoformat()] if as_of is not None else []))
        assert result.exit_code == 0, result.output
        report = json.loads(out.with_name(out.name + ".report.json").read_text())
        assert len(report["psi"]) >= 5 and max(report["psi"].values()) <= PSI_WARNING, report["psi"]
        assert "drift:" not in result.stderr


def test_a_shifted_funnel_raises_drift(trained, tmp_path):
    """The same generated history (seed 7) with pricing-page views logged as page views for the
    last 60 days: scored with the model trained on the unshifted history, features drift."""
    shifted = tmp_path / "shifted"
    result = invoke(["generate", "--out", shifted, "--leads", 4000, "--seed", 7, "--shift", "events",
                     "--shift-after", (DEFAULT_END - pd.Timedelta(days=60)).isoformat(), "--shift-factor", 1.0])
    assert result.exit_code == 0, result.output
    out = tmp_path / "scores.csv"
    result = invoke(["predict", "--data", shifted, "--out", out, "--tracking-uri", trained.tracking_uri])
    assert result.exit_code == 0, result.output
    psi = json.loads(out.with_name(out.name + ".report.json").read_text())["psi"]
    assert max(psi.values()) > PSI_WARNING, psi
    assert "drift: PSI of" in result.stderr
    assert np.isfinite(list(psi.values())).all()
