"""The words and tags the registry shows: hand-made facts in, exact text out (no MLflow)."""

import pytest

from leadq.features.spec import FeatureSpec
from leadq.tracking.registry import decide
from leadq.tracking.registry_text import (
    LEAD_TABLE,
    clip_description,
    data_summary,
    describe_spec,
    gate_verdict,
    model_description,
    realized_figures,
    training_facts,
    version_description,
    version_tags,
)
from registry_facts import facts

FINGERPRINT = {
    "leads": {"rows": 3, "leads": 3, "first": "2025-01-02T00:00:00+00:00",
              "last": "2025-03-01T00:00:00+00:00", "hash": "00000000000000aa", "source": "/a/leads.csv"},
    "events": {"rows": 10, "leads": 3, "first": "2025-01-05T08:00:00+00:00",
               "last": "2025-03-30T17:00:00+00:00", "hash": "00000000000000bb", "source": "/a/events.csv"},
    "outcomes": {"rows": 2, "leads": 2, "first": "2025-02-01T00:00:00+00:00",
                 "last": "2025-03-02T00:00:00+00:00", "hash": "00000000000000cc", "source": "/a/outcomes.csv"},
}


def test_spec_in_one_line_counts_the_columns():
    spec = FeatureSpec(numeric_attributes=["employees"], categorical_attributes=["source", "country"])
    # 13 count groups x 4 windows + 4 totals + 3 durations + 1 + 6 x 2 recency + 4 + 2 + 3 + 1
    # journey + lead age = 83 engagement-and-age columns, plus 3 attributes.
    assert describe_spec(spec) == (
        "86 features: counts of 12 event types over 7/30/90 days and all time, time on site, recency "
        "of 6 types, active days and sessions (30-minute gap), pricing_view returns, breadth, trend, "
        "journey stage (content_download > webinar_attend > pricing_view); lead age; 1 numeric and 2 "
        "categorical attributes"
    )
    ablated = spec.model_copy(update={"exclude_features": ["journey_stage", "sessions_all", "nope"]})
    assert describe_spec(ablated).startswith("84 features:")
    assert describe_spec(ablated).endswith("; 2 features left out")
    lead_table = FeatureSpec(include_engagement=False, numeric_attributes=["a", "b"],
                             categorical_attributes=["c"])
    assert describe_spec(lead_table) == "4 features: 2 numeric and 1 categorical attributes"


def test_data_summary_is_dates_rows_and_a_content_fingerprint():
    span, rows, digest = data_summary(FINGERPRINT)
    assert span == "2025-01-05 to 2025-03-30"
    assert rows == "3 leads, 10 events, 2 outcomes"
    assert len(digest) == 16 and int(digest, 16) >= 0
    # Same content read from elsewhere: same fingerprint; one table's content changed: another.
    moved = {t: {**v, "source": f"/b/{t}.parquet"} for t, v in FINGERPRINT.items()}
    assert data_summary(moved)[2] == digest
    changed = {**FINGERPRINT, "events": {**FINGERPRINT["events"], "hash": "00000000000000bd"}}
    assert data_summary(changed)[2] != digest
    table = {"lead_table": {"source": "x.csv", "sha256": "f" * 64, "rows": 9240}, "positives": 3561}
    assert data_summary(table) == (None, "9,240 rows", "f" * 16)


def test_version_tags_answer_what_this_version_is():
    reason = "promoted: test_log_loss_sql 0.0998 < champion v1 0.1006 - margin 0.001"
    assert version_tags(facts(), "promoted", reason) == {
        "targets": "mql,sql",
        "input": "event tables",
        "horizon_days": "30",
        "data.range": "2025-01-05 to 2025-03-30",
        "data.rows": "3 leads, 10 events, 2 outcomes",
        "data.fingerprint": "0123456789abcdef",
        "evaluation": "test window",
        "test.mql.roc_auc": "0.8123", "test.mql.pr_auc": "0.4000", "test.mql.log_loss": "0.2500",
        "test.sql.roc_auc": "0.8581", "test.sql.pr_auc": "0.2760", "test.sql.log_loss": "0.0998",
        "gate.verdict": "promoted",
        "gate.reason": reason,
    }
    cv = version_tags(facts(evaluation="cross_validation", horizon_days=None, input_kind=LEAD_TABLE,
                            data_range=None, targets=("sql",)), "not promoted", "r")
    assert cv["cv.sql.roc_auc"] == "0.8581"
    assert "horizon_days" not in cv and "data.range" not in cv and "test.sql.roc_auc" not in cv
    assert cv["evaluation"] == "k-fold cross-validation" and cv["input"] == "lead table"


def test_version_description_holds_gate_data_and_a_figures_table():
    text = version_description(facts(), "3", "not promoted", "not promoted: x")
    first, blank, third = text.splitlines()[:3]
    assert first == "not promoted · test ROC AUC mql 0.8123, sql 0.8581 · 2025-01-05 to 2025-03-30"
    assert blank == ""
    assert third == ("**Version 3** predicts for each open lead, the probability of reaching "
                     "**mql** and **sql** within **30 days** of the scoring cutoff.")
    assert "**Gate:** not promoted: x" in text
    assert ("**Data:** event tables, 2025-01-05 to 2025-03-30; 3 leads, 10 events, 2 outcomes; "
            "fingerprint `0123456789abcdef`.") in text
    assert "| target | model | ROC AUC | PR AUC | log loss | Brier | ECE | threshold |" in text
    assert "| sql | hist_gradient_boosting | 0.8581 | 0.2760 | 0.0998 | 0.0200 | 0.0040 | 0.125 |" in text
    assert "Run `abc123`" in text


def test_model_description_says_what_it_predicts_and_how_to_score():
    text = model_description(facts())
    assert text.startswith("Predicts for each open lead, the probability of reaching **mql** and "
                           "**sql** within **30 days** of the scoring cutoff.")
    assert "- **Features:** 86 features: counts." in text
    assert "- **Input:** event tables: `leads`, `events` and `outcomes` (CSV or Parquet)." in text
    assert "`leadq predict --model lead-quality@champion --data DATA_DIR --out scores.parquet`" in text
    assert "test_log_loss_sql beats the champion's on the same held-out data by more than 0.001" in text
    table = model_description(facts(input_kind=LEAD_TABLE, horizon_days=None, targets=("converted",),
                                     label_column="Converted", id_column="Prospect ID",
                                     model_name="crm"))
    assert table.startswith("Predicts the probability that a lead is positive for **converted** "
                            "(label column `Converted`).")
    assert "(id column `Prospect ID`, label column `Converted`)" in table
    assert "`leadq predict --model crm@champion --data LEADS_FILE --out scores.csv`" in table
    # Only the configuration shapes it: figures, data and run do not.
    assert model_description(facts(run_id="other", metrics={"mql": {}, "sql": {}})) == text


@pytest.mark.parametrize("version_tags_, run_tags, expected", [
    ({"gate.verdict": "not promoted"}, {}, "not promoted"),
    ({}, {"leadq.gate.promoted": "True", "leadq.gate.version": "2"}, "promoted"),
    ({}, {"leadq.gate.promoted": "False", "leadq.gate.version": "2"}, "not promoted"),
    # The run's decision is another version's (the run was registered twice): no record here.
    ({}, {"leadq.gate.promoted": "True", "leadq.gate.version": "5"}, "incomplete"),
    ({}, {}, "incomplete"),
    ({"promoted_by": "alice"}, {}, "incomplete"),
])
def test_gate_verdict_or_incomplete(version_tags_, run_tags, expected):
    assert gate_verdict(version_tags_, run_tags, "2") == expected


def test_realized_figures_from_monitoring_tags():
    tags = {"realized.sql.roc_auc": "0.80123", "realized.sql.log_loss": "0.1043",
            "realized.sql.n_leads": "1200", "realized.mql.brier": "0.05",
            "realized.as_of": "2026-07-31T00:00:00+00:00", "monitor.verdict": "ok", "gate.verdict": "x"}
    assert realized_figures(tags) == (
        "mql Brier 0.0500; sql ROC AUC 0.8012, log loss 0.1043 as of 2026-07-31; verdict ok"
    )
    assert realized_figures({"gate.verdict": "promoted"}) == ""


@pytest.mark.parametrize("metric, challenger, champion, margin, expected", [
    ("test_log_loss_sql", 0.0998, 0.1006, 0.0005,
     "promoted: test_log_loss_sql 0.0998 < champion v1 0.1006 - margin 0.0005"),
    ("test_log_loss_sql", 0.1003, 0.1006, 0.001,
     "not promoted: test_log_loss_sql 0.1003 >= champion v1 0.1006 - margin 0.001"),
    # Equal to four decimals: as many more as it takes to tell them apart.
    ("test_log_loss_sql", 0.100601, 0.100602, 0.0,
     "promoted: test_log_loss_sql 0.100601 < champion v1 0.100602 - margin 0"),
    # The same model retrained: equal figures stay short.
    ("test_log_loss_sql", 0.1030469028, 0.1030469028, 0.001,
     "not promoted: test_log_loss_sql 0.1030 >= champion v1 0.1030 - margin 0.001"),
    ("test_roc_auc_sql", 0.85, 0.86, 0.001,
     "not promoted: test_roc_auc_sql 0.8500 <= champion v1 0.8600 + margin 0.001"),
    ("test_roc_auc_sql", 0.87, 0.86, 0.001,
     "promoted: test_roc_auc_sql 0.8700 > champion v1 0.8600 + margin 0.001"),
])
def test_gate_reason_states_the_comparison(metric, challenger, champion, margin, expected):
    assert decide("2", metric, challenger, champion, "1", margin, "").reason == expected


def test_descriptions_fit_mlflow_columns():
    assert clip_description("x" * 4999) == "x" * 4999
    clipped = clip_description("x" * 6000)
    assert len(clipped) == 5000 and clipped.endswith("…")


def test_facts_of_a_cross_validated_lead_table():
    from types import SimpleNamespace

    from leadq.config import parse_config

    config = parse_config({"targets": ["converted"], "registry": {"model_name": "crm",
                           "promotion_metric": "test_roc_auc_converted", "margin": 0.002},
                           "lead_table": {"path": "x.csv", "id_column": "Prospect ID",
                                          "label_column": "Converted"}}, "test")
    target = SimpleNamespace(test={"roc_auc": 0.9, "log_loss": 0.35}, chosen="logistic", threshold=0.4)
    result = SimpleNamespace(
        targets={"converted": target}, spec=FeatureSpec(include_engagement=False, numeric_attributes=["a"]),
        evaluation="cross_validation", split=None, window_rows={"all": 9240},
        extra_metrics={"cv_folds": 5.0, "cv_roc_auc_mean": 0.91, "cv_roc_auc_std": 0.012},
        lead_table={"id_column": "Prospect ID", "label_column": "Converted"},
    )
    fingerprint = {"lead_table": {"source": "x.csv", "sha256": "ab" * 32, "rows": 9240}, "positives": 3561}
    got = training_facts(result, config, fingerprint, "r1")
    assert (got.input_kind, got.horizon_days, got.data_range) == ("lead table", None, None)
    assert got.evaluation_window == "5-fold cross-validation over 9,240 rows"
    assert got.cv_spread == {"roc_auc": "0.9100 ± 0.0120"}
    assert (got.label_column, got.id_column, got.fingerprint) == ("Converted", "Prospect ID", "ab" * 8)
    assert got.promotion_metric == "test_roc_auc_converted" and got.margin == 0.002
    text = version_description(got, "2", "not promoted", "not promoted: r")
    assert text.splitlines()[0] == "not promoted · cv ROC AUC converted 0.9000"
    assert "**Held out:** 5-fold cross-validation over 9,240 rows; out-of-fold (cross-validated) figures:" in text
    assert "Per fold (mean ± sd): ROC AUC 0.9100 ± 0.0120." in text
    assert version_tags(got, "not promoted", "r")["cv.converted.roc_auc"] == "0.9000"
