"""Lead-level tables: label errors, generated leads through train/predict/rules, and X Education.

The X Education tests read the shared export where it lives and skip, saying where they looked,
when it is absent; the generated-table test always runs.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadq.models.audit import LeakageError
from leadq.config import load_config, parse_config
from leadq.core.errors import BadInputError
from leadq.features.lead_table import expand_path, load_lead_table, parse_labels
from lead_table_data import FAST, generated_lead_table, lead_table_config

ROOT = Path(__file__).resolve().parents[2]
XEDUCATION_CONFIG = ROOT / "pipelines" / "xeducation.yaml"
XEDUCATION_RULES = ROOT / "pipelines" / "rules" / "xeducation.yaml"
XEDUCATION_CSV = Path(os.environ.get("LEADQ_XEDUCATION_CSV")
                      or ROOT.parent / "shared" / "data" / "xeducation" / "Leads.csv")
needs_xeducation = pytest.mark.skipif(
    not XEDUCATION_CSV.is_file(),
    reason=f"X Education export not found at {XEDUCATION_CSV} (set LEADQ_XEDUCATION_CSV)",
)
def _tiny_csv(tmp_path: Path, labels: list[str] | None, name: str = "leads.csv") -> Path:
    n = 40
    frame = pd.DataFrame({"Lead ID": [f"L{i}" for i in range(n)],
                          "Visits (#)": np.arange(n) % 7,
                          "Source": ["Google", " google", "Select", "Ads"] * (n // 4)})
    if labels is not None:
        frame["Won?"] = labels
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_labels_parse_from_numbers_words_and_booleans():
    values = pd.Series(["1", "0", "Yes", "no", "TRUE", "false", " 1.0 ", "maybe", None])
    np.testing.assert_array_equal(parse_labels(values)[:7], [1, 0, 1, 0, 1, 0, 1])
    assert np.isnan(parse_labels(values)[7:]).all()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["yes"] * 40, "column 'Won?' is constant: all 40 labels are 1"),
        (None, "label column 'Won?' is missing in all 40 rows"),
        (["yes", "no"] + ["pending"] * 38, "column 'Won?' has 38 of 40 labels missing or unparseable"),
    ],
    ids=["constant", "missing", "unparseable"],
)
def test_bad_label_columns_are_one_line_errors_naming_file_column_and_count(tmp_path, labels, expected):
    path = _tiny_csv(tmp_path, labels)
    with pytest.raises(BadInputError) as caught:
        load_lead_table(lead_table_config(path))
    message = caught.value.message
    assert "\n" not in message and message.startswith(str(path)) and expected in message


def test_placeholders_are_missing_and_types_are_inferred(tmp_path):
    path = _tiny_csv(tmp_path, ["1", "0"] * 20)
    table = load_lead_table(lead_table_config(path))
    assert table.spec.numeric_columns() == ["Visits (#)", "missing_fields"]
    assert table.spec.categorical_columns() == ["Source"]
    assert table.features["Source"].isna().sum() == 10  # "Select" is a drop-down left untouched
    assert table.features["missing_fields"].max() == 1
    forced = load_lead_table(lead_table_config(path, column_types={"Visits (#)": "categorical"}))
    assert "Visits (#)" in forced.spec.categorical_columns()


def test_path_expands_environment_variables(monkeypatch):
    monkeypatch.setenv("LEADQ_TEST_FILE", "/data/x.csv")
    assert expand_path("${LEADQ_TEST_FILE:-fallback.csv}") == "/data/x.csv"
    monkeypatch.delenv("LEADQ_TEST_FILE")
    assert expand_path("${LEADQ_TEST_FILE:-fallback.csv}") == "fallback.csv"


@pytest.mark.slow
def test_generated_lead_table_trains_predicts_and_scores_rules(tmp_path):
    from leadq.steps.train import train_from_files
    from leadq.steps.predict import predict_to_file
    from leadq.tracking.registry import list_versions
    from leadq.rules.scorecard import AttributeRule, Scorecard, Thresholds
    from leadq.rules.lead_table import score_lead_table_rules

    frame = generated_lead_table(2500, seed=5)
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    config = lead_table_config(tmp_path / "elsewhere.csv", {"candidates": FAST}, cv_folds=3)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = train_from_files(data_dir=path, tracking_uri=uri, config=config)

    metrics = outcome.result.metrics()
    assert outcome.result.evaluation == "cross_validation" and outcome.decision.promoted
    assert 0.7 < metrics["cv_roc_auc_mean"] <= 1 and metrics["cv_roc_auc_std"] > 0
    assert metrics["baseline_cv_roc_auc_mean"] > 0.6 and "baseline_cv_brier_mean" in metrics
    assert not outcome.result.audit["flagged"].any()
    assert "Time on site / s" in outcome.spec.feature_columns()
    versions = list_versions("test-leads", uri)
    assert versions["aliases"].tolist() == ["challenger, champion"]

    out = tmp_path / "scores.csv"
    summary = predict_to_file(path, out, model_ref="test-leads@champion", tracking_uri=uri)
    scored = pd.read_csv(out)
    assert summary.n_leads == len(frame) and scored["lead_id"].tolist() == frame["Lead ID"].tolist()
    assert scored["p_won"].between(0, 1).all() and set(scored["stage"]) <= {"WON", "nurture"}
    named = scored["reasons"].dropna().str.split("; ").explode().str.rsplit("=", n=1).str[0]
    assert set(named) <= set(outcome.spec.feature_columns())
    assert {"Time on site / s", "pricing_view (count)"} & set(named)

    scorecard = Scorecard(
        attributes=[AttributeRule(column="pricing_view (count)", per_unit=10, cap=30),
                    AttributeRule(column="Job Title", contains_any=["chief", "vp"], points=10)],
        thresholds=Thresholds(mql=10, sql=30),
    )
    rules = score_lead_table_rules(config, path, scorecard)
    assert len(rules) == len(frame) and rules["points"].max() == 40
    assert set(rules["stage"]) <= {"SQL", "MQL", "nurture"}


@needs_xeducation
@pytest.mark.slow
def test_xeducation_all_columns_stops_at_the_audit_naming_tags(tmp_path):
    from leadq.steps.train import train_from_files

    config = load_config(XEDUCATION_CONFIG)
    everything = config.model_copy(update={"lead_table": config.lead_table.model_copy(
        update={"exclude_columns": ["Lead Number"]})})
    with pytest.raises(LeakageError) as caught:
        train_from_files(data_dir=XEDUCATION_CSV, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
                         config=everything)
    message = caught.value.message
    assert "\n" not in message and "'Tags'" in message and "near-pure" in message
    assert not (tmp_path / "m.db").exists()  # stopped before anything was logged


@needs_xeducation
@pytest.mark.slow
def test_xeducation_without_sales_columns_clears_the_audit_and_scores_with_own_names(tmp_path):
    from leadq.cli import app
    from typer.testing import CliRunner

    from leadq.steps.train import train_from_files
    from leadq.steps.predict import predict_to_file

    config = load_config(XEDUCATION_CONFIG)
    fast = config.model_copy(update={
        "lead_table": config.lead_table.model_copy(update={"cv_folds": 2}),
        "candidates": parse_config({"candidates": FAST}).candidates,
    })
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = train_from_files(data_dir=XEDUCATION_CSV, tracking_uri=uri, config=fast)
    audit = outcome.result.audit.set_index("column")
    assert "Tags" not in audit.index and not audit["flagged"].any()
    assert audit["auc"].max() < 0.75 and audit["near_pure_share"].max() < 0.05

    out = tmp_path / "scores.parquet"
    predict_to_file(XEDUCATION_CSV, out, model_ref="xeducation-conversion@champion", tracking_uri=uri)
    scored = pd.read_parquet(out)
    export = pd.read_csv(XEDUCATION_CSV, usecols=["Prospect ID"])
    assert scored["lead_id"].tolist() == export["Prospect ID"].tolist()
    named = set(scored["reasons"].dropna().str.split("; ").explode().str.rsplit("=", n=1).str[0])
    assert named <= set(outcome.spec.feature_columns())
    assert "Total Time Spent on Website" in named and "Tags" not in named

    rules_out = tmp_path / "rules.csv"
    result = CliRunner().invoke(app, ["rules", "score", "--rules", str(XEDUCATION_RULES), "--config",
                                      str(XEDUCATION_CONFIG), "--data", str(XEDUCATION_CSV),
                                      "--out", str(rules_out)])
    assert result.exit_code == 0, result.output
    rules = pd.read_csv(rules_out)
    assert len(rules) == len(export) and rules["points"].max() > 40
