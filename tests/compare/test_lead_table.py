"""`leadq compare` on a lead-level table: out-of-fold predictions on the training folds.

One small model on a generated CRM-style export (about 1,500 leads, 3 folds), compared through
the CLI; the cross-fitted thresholds are checked by hand. (The X Education export is compared by
hand: `leadq compare --config pipelines/xeducation.yaml ...`; training it alone takes ~30 s.)
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app
from leadq.compare.core import (
    DIFFERENCE,
    LEARNED,
    MODEL_CAPACITY,
    MODEL_TUNED,
    RULES_OWN,
    RULES_TUNED,
    compare_scored,
    cross_fold_selections,
)
from leadq.rules.scorecard import Thresholds
from lead_table_data import FAST, generated_lead_table, lead_table_config


def _folded(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    signal = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(2 * signal - 1)))
    return pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)], "window": "test", "fold": np.arange(n) % 3,
        "label_won": (rng.random(n) < p).astype(float), "p_won": p,
        "rules_points": np.round(10 * signal + rng.normal(scale=8, size=n)),
    })


def test_cross_fold_thresholds_never_read_the_fold_they_are_applied_to():
    scored = _folded()
    _, _, clean = cross_fold_selections(scored, "won", 100, 20)
    corrupted = scored.copy()
    in_fold_0 = corrupted["fold"] == 0
    corrupted.loc[in_fold_0, "label_won"] = 1 - corrupted.loc[in_fold_0, "label_won"]
    _, _, dirty = cross_fold_selections(corrupted, "won", 100, 20)
    assert dirty["model_by_fold"][0] == clean["model_by_fold"][0]
    assert dirty["rules_by_fold"][0] == clean["rules_by_fold"][0]
    assert dirty["model_by_fold"][1:] != clean["model_by_fold"][1:]  # fold 0 tunes the others

    table = compare_scored(scored, ["won"], Thresholds(mql=0, sql=5), None, 100, 20, n_boot=100,
                           tuning="cross_fold").table.set_index("method")
    assert list(table.index) == [RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, DIFFERENCE]
    assert table.loc[MODEL_CAPACITY, "leads_passed"] == (scored["rules_points"] >= 5).sum()


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    from leadq.steps.train import train_from_files

    root = tmp_path_factory.mktemp("compare_lead_table")
    path = root / "export.csv"
    generated_lead_table(1500, seed=7).to_csv(path, index=False)
    config = lead_table_config(path, {"candidates": FAST}, cv_folds=3)
    rules = root / "rules.yaml"
    rules.write_text(
        "name: generated-rules\n"
        "attributes:\n"
        "  - {column: pricing_view (count), per_unit: 10, cap: 30}\n"
        "  - {column: Job Title, contains_any: [chief, vp, head], points: 10}\n"
        "thresholds: {mql: 10, sql: 20}\n")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        train_from_files(data_dir=path, tracking_uri=uri, config=config)
        # The config logged with the model's run, the file it names: no --config, no --data.
        result = CliRunner().invoke(app, ["compare", "--model", "test-leads@champion", "--rules",
                                          str(rules), "--tracking-uri", uri, "--out", str(root / "out")])
    yield {"root": root, "uri": uri, "out": root / "out", "cli": result, "path": path}


@pytest.mark.slow
def test_cli_compares_on_out_of_fold_predictions(compared):
    result = compared["cli"]
    assert result.exit_code == 0, result.output
    output = result.output
    for method in (RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, DIFFERENCE):
        assert method in output
    assert LEARNED not in output.split("learned scorecard: not fitted")[-1]
    assert "learned scorecard: not fitted for a lead-level table" in output
    assert "1,500 leads (out of fold)" in output
    # The rebuilt out-of-fold predictions reproduce the run's logged test ROC AUC exactly.
    assert "differs from training" not in output

    names = {p.name for p in compared["out"].iterdir()}
    assert {"report.html", "comparison.csv", "pr_won.png", "gain_won.png", "scores_won.png"} <= names
    table = pd.read_csv(compared["out"] / "comparison.csv").set_index("method")
    assert list(table.index) == [RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, DIFFERENCE]
    assert (table["n"] == 1500).all()
    assert table.loc[RULES_OWN, "leads_passed"] == table.loc[MODEL_CAPACITY, "leads_passed"] > 0
    assert table.loc[DIFFERENCE, "recall"] == pytest.approx(
        table.loc[MODEL_CAPACITY, "recall"] - table.loc[RULES_OWN, "recall"])
    selections = table.drop(index=DIFFERENCE)
    assert (selections["recall_lo"] <= selections["recall"] + 1e-9).all()
    assert (selections["recall"] <= selections["recall_hi"] + 1e-9).all()

    html = (compared["out"] / "report.html").read_text()
    assert "out-of-fold predictions over all 1500 leads" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3


@pytest.mark.slow
def test_lead_table_comparison_is_logged_with_per_fold_thresholds(compared):
    import json

    import mlflow

    from leadq.tracking.store import client

    mlflow_client = client(compared["uri"])
    runs = mlflow_client.search_runs(
        [e.experiment_id for e in mlflow_client.search_experiments()],
        filter_string="tags.`leadq.kind` = 'compare'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["threshold_tuning"] == "cross_fold"
    assert run.data.params["lead_table.path"] == str(compared["path"])
    assert "recall_won_model_same_capacity" in run.data.metrics
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                artifact_path="tuned_thresholds.json",
                                                tracking_uri=compared["uri"])
    tuned = json.loads(Path(local).read_text())["won"]
    assert len(tuned["model_by_fold"]) == len(tuned["rules_by_fold"]) == 3
    assert tuned["model"] == pytest.approx(float(np.median(tuned["model_by_fold"])))


@pytest.mark.slow
def test_unknown_alias_is_a_one_line_error(compared, tmp_path):
    result = CliRunner().invoke(app, ["compare", "--model", "test-leads@nope", "--tracking-uri",
                                      compared["uri"], "--out", str(tmp_path / "o")])
    assert result.exit_code == 3 and "no alias 'nope'" in result.output
    assert not (tmp_path / "o").exists()

