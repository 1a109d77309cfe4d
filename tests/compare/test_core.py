"""`leadq compare`: bootstrap and operating points by hand, then end to end on one small model.

The module trains one small model on ~3,000 generated leads (about 20 s) and runs the
comparison twice: once as is, once on data whose outcomes after the start of the test window
are scrambled (test labels corrupted), which must not move any tuned threshold.
"""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app
from leadq.compare.core import (
    DIFFERENCE,
    LEARNED,
    METRICS,
    MODEL_CAPACITY,
    MODEL_TUNED,
    RULES_OWN,
    RULES_TUNED,
    bootstrap_sums,
    compare_scored,
    selection_metrics,
    top_k_mask,
)
from leadq.core.html import format_cell, format_value
from leadq.steps.compare import compare_to_dir
from leadq.rules.scorecard import Thresholds, load_scorecard

RULES = Path(__file__).resolve().parents[2] / "pipelines" / "rules" / "default.yaml"
SMALL_CONFIG = {
    "snapshots": {"leads_per_cutoff": 300},
    "candidates": {"hist_gradient_boosting": {"max_iter": 40}, "importance_rows": 100},
}


# --------------------------------------------------------------------------- by hand


def test_bootstrap_resamples_leads_with_all_their_rows():
    lead_ids = ["a", "a", "b", "c", "c", "c"]
    ones = np.ones(6)
    rows_of_a = np.array([1, 1, 0, 0, 0, 0], dtype=float)
    point, draws = bootstrap_sums(lead_ids, np.column_stack([ones, rows_of_a]), n_boot=500, seed=3)
    assert point.tolist() == [6.0, 2.0]
    # Lead a's two rows are always drawn together: its row count is even in every resample.
    assert np.all(draws[:, 1] % 2 == 0)
    # Three leads drawn with replacement: 3 to 9 rows (b alone x3 .. c alone x3).
    assert draws[:, 0].min() >= 3 and draws[:, 0].max() <= 9
    again = bootstrap_sums(lead_ids, np.column_stack([ones, rows_of_a]), n_boot=500, seed=3)[1]
    assert np.array_equal(draws, again)


def test_selection_metrics_by_hand():
    # 10 examples, 4 conversions; 5 passed of which 3 converted.
    m = selection_metrics(10, 4, 5, 3, value_per_conversion=100, cost_per_contact=10)
    assert m["precision"] == pytest.approx(0.6)
    assert m["recall"] == pytest.approx(0.75)
    assert m["lift"] == pytest.approx(0.6 / 0.4)
    assert m["expected_value"] == pytest.approx(3 * 100 - 5 * 10)
    assert np.isnan(selection_metrics(10, 4, 0, 0, 1, 1)["precision"])


def test_top_k_mask_breaks_ties_by_row_order():
    assert top_k_mask(np.array([0.2, 0.9, 0.2, 0.5]), 3).tolist() == [True, True, False, True]
    assert not top_k_mask(np.array([0.2, 0.9]), 0).any()


def _tiny_scored() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    window = np.where(np.arange(n) < 200, "validation", "test")
    signal = rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(signal * 2 - 2)))).astype(float)
    return pd.DataFrame({
        "lead_id": [f"L{i % 150}" for i in range(n)],
        "window": window,
        "label_sql": label,
        "p_sql": 1 / (1 + np.exp(-(signal * 2 - 2))),
        "rules_points": np.round(signal * 10 + rng.normal(scale=8, size=n)),
        "learned_points": np.round(signal * 10),
    })


def test_compare_scored_operating_points():
    scored = _tiny_scored()
    result = compare_scored(scored, ["sql"], Thresholds(mql=0, sql=10), Thresholds(mql=0, sql=5),
                            value_per_conversion=100, cost_per_contact=20, n_boot=200, seed=1)
    table = result.table.set_index("method")
    test = scored[scored["window"] == "test"]
    passed_by_rules = int((test["rules_points"] >= 10).sum())
    assert table.loc[RULES_OWN, "leads_passed"] == passed_by_rules == result.capacity["sql"]
    assert table.loc[MODEL_CAPACITY, "leads_passed"] == passed_by_rules
    assert table.loc[LEARNED, "leads_passed"] == int((test["learned_points"] >= 5).sum())
    assert table.loc[DIFFERENCE, "recall"] == pytest.approx(
        table.loc[MODEL_CAPACITY, "recall"] - table.loc[RULES_OWN, "recall"])
    assert list(table.index) == [RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, LEARNED, DIFFERENCE]


def test_tuned_thresholds_ignore_test_labels_by_hand():
    scored = _tiny_scored()
    corrupted = scored.copy()
    is_test = corrupted["window"] == "test"
    corrupted.loc[is_test, "label_sql"] = 1 - corrupted.loc[is_test, "label_sql"]
    args = (["sql"], Thresholds(mql=0, sql=10), Thresholds(mql=0, sql=5), 100, 20)
    clean = compare_scored(scored, *args, n_boot=50)
    dirty = compare_scored(corrupted, *args, n_boot=50)
    assert dirty.tuned_thresholds == clean.tuned_thresholds
    assert not np.isclose(dirty.summary["sql"]["recall_rules"], clean.summary["sql"]["recall_rules"])


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small model in a store under tmp (cwd moved there, so a stray ./mlruns would show)."""
    from leadq.config import parse_config
    from leadq.steps.generate import generate_to_dir
    from leadq.steps.train import train_from_files

    root = tmp_path_factory.mktemp("compare")
    data_dir = root / "data"
    generate_to_dir(data_dir, n_leads=3000, seed=0)
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = parse_config({**SMALL_CONFIG, "data": {"dir": str(data_dir)}})
        train_from_files(config=config, tracking_uri=uri)
        # Defaults: the model's own config, data folder and the default scorecard.
        result = CliRunner().invoke(app, ["compare", "--tracking-uri", uri, "--out", str(root / "out")])
        yield {"root": root, "uri": uri, "data": data_dir, "out": root / "out", "cli": result}


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_the_outputs(trained):
    result = trained["cli"]
    assert result.exit_code == 0, result.output
    for method in (RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, LEARNED, DIFFERENCE):
        assert method in result.output
    out = trained["out"]
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "comparison.csv", "learned_scorecard.yaml"} <= names
    assert {f"{kind}_{t}.png" for kind in ("pr", "gain", "scores") for t in ("mql", "sql")} <= names
    assert not (trained["root"] / "mlruns").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]  # no temp left


@pytest.mark.slow
def test_report_is_self_contained_and_matches_the_csv(trained):
    html = (trained["out"] / "report.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(sources) == 6  # three plots per target, all embedded
    table = pd.read_csv(trained["out"] / "comparison.csv")
    assert len(table) == 2 * 6
    for _, row in table.iterrows():
        match = re.search(
            rf'<tr[^>]*data-target="{row["target"]}" data-method="{re.escape(row["method"])}">(.*?)</tr>',
            html)
        assert match, (row["target"], row["method"])
        cells = re.sub(r"<[^>]+>", "", match.group(1))
        for metric in METRICS:
            assert format_cell(row, metric) in cells, (row["method"], metric)
        assert format_value("threshold", row["threshold"]) in cells


@pytest.mark.slow
def test_bootstrap_intervals_contain_the_estimates(trained):
    table = pd.read_csv(trained["out"] / "comparison.csv")
    for metric in METRICS:
        rows = table[table[metric].notna()]
        assert (rows[f"{metric}_lo"] <= rows[metric] + 1e-9).all(), metric
        assert (rows[metric] <= rows[f"{metric}_hi"] + 1e-9).all(), metric
    own = table[table["method"] == RULES_OWN].set_index("target")
    same = table[table["method"] == MODEL_CAPACITY].set_index("target")
    assert (own["leads_passed"] == same["leads_passed"]).all()


@pytest.mark.slow
def test_comparison_is_logged_to_mlflow(trained):
    from leadq.tracking.store import client

    mlflow_client = client(trained["uri"])
    runs = mlflow_client.search_runs(
        [e.experiment_id for e in mlflow_client.search_experiments()],
        filter_string="tags.`leadq.kind` = 'compare'")
    assert len(runs) >= 1
    run = runs[-1]
    assert "recall_sql_model_same_capacity" in run.data.metrics
    assert "recall_difference_lo_sql" in run.data.metrics
    logged = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "comparison")}
    assert "comparison/report.html" in logged and "comparison/comparison.csv" in logged


def _training_param(uri: str, key: str) -> str:
    from leadq.tracking.store import client

    mlflow_client = client(uri)
    runs = mlflow_client.search_runs(
        [e.experiment_id for e in mlflow_client.search_experiments()],
        filter_string="tags.`leadq.model_name` = 'lead-quality'")
    return runs[0].data.params[key]


@pytest.mark.slow
def test_corrupted_test_labels_leave_tuned_thresholds_unchanged(trained, tmp_path):
    clean = pd.read_csv(trained["out"] / "comparison.csv").set_index(["target", "method"])
    corrupted = tmp_path / "corrupted"
    shutil.copytree(trained["data"], corrupted)
    outcomes = pd.read_parquet(corrupted / "outcomes.parquet")
    test_first = pd.Timestamp(_training_param(trained["uri"], "split.test_first"))
    # Scramble who converted after the test window opened: test labels change; training and
    # validation labels and the sampled leads cannot (validation ends a horizon earlier).
    late = pd.to_datetime(outcomes["reached_at"], utc=True) > test_first
    rng = np.random.default_rng(0)
    outcomes.loc[late, "lead_id"] = rng.permutation(outcomes.loc[late, "lead_id"].to_numpy())
    outcomes.to_parquet(corrupted / "outcomes.parquet", index=False)
    dirty = compare_to_dir(tmp_path / "dirty", data_dir=corrupted, rules_path=RULES,
                           tracking_uri=trained["uri"], n_boot=100,
                           learned_path=trained["out"] / "learned_scorecard.yaml")

    for target in ("mql", "sql"):
        assert dirty.comparison.tuned_thresholds[target] == {
            "model": pytest.approx(clean.loc[(target, MODEL_TUNED), "threshold"], rel=1e-12),
            "rules": clean.loc[(target, RULES_TUNED), "threshold"],
        }
    # The corruption did reach the test window: its labels, hence its metrics, changed.
    table = dirty.table.set_index(["target", "method"])
    assert any(table.loc[(t, RULES_OWN), "recall"] != clean.loc[(t, RULES_OWN), "recall"]
               for t in ("mql", "sql"))
    assert dirty.warnings  # the rebuilt test AUC no longer matches the training run's


@pytest.mark.slow
def test_learned_scorecard_written_by_compare_loads(trained):
    card = load_scorecard(trained["out"] / "learned_scorecard.yaml")
    assert card.thresholds.sql >= card.thresholds.mql
    assert card.events or card.attributes


@pytest.mark.slow
def test_unknown_alias_and_missing_data_are_one_line_errors(trained, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["compare", "--tracking-uri", trained["uri"], "--model",
                                 "lead-quality@nope", "--out", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert "no alias 'nope'" in result.output
    result = runner.invoke(app, ["compare", "--tracking-uri", trained["uri"], "--data",
                                 str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "data folder not found" in result.output
    assert not (tmp_path / "o").exists()
