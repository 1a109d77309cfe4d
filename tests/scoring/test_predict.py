"""Batch scoring's columns by hand: routing by the stored thresholds, the score, masking of
stages already reached, the report; and scores equal to scikit-learn's own probabilities."""

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from leadq.models.candidates import build_candidates
from leadq.config import load_config
from leadq.models.drift import reference_bins
from leadq.features.spec import FeatureSpec
from leadq.scoring.predict import finish_scores, score_chunk, score_header, stale_data_warning
from leadq.scoring.routing import funnel_order, route_stages
from leadq.tracking.model_ref import ModelRef, parse_model_ref

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


class Artifacts:
    """What `finish_scores` reads from a registered model: thresholds and drift references."""

    def __init__(self, thresholds, reference=None):
        self.thresholds = thresholds
        self.reference = reference or {}


# lead, current stage, p_mql, p_sql (NaN: the stage is reached), expected stage, expected score
ROWS = [
    ("nurture", "lead", 0.20, 0.10, "nurture", 10),
    ("mql_at_threshold", "lead", 0.30, 0.494, "MQL", 49),
    ("sql_at_threshold", "lead", 0.90, 0.50, "SQL", 50),
    ("sql_without_mql", "lead", 0.10, 0.60, "SQL", 60),
    ("is_mql", "mql", np.nan, 0.20, "MQL", 20),
    ("is_mql_passes_sql", "mql", np.nan, 0.70, "SQL", 70),
    ("is_sql", "sql", np.nan, np.nan, "SQL", 100),  # whatever the loop order, an SQL stays one
    ("rounds_half_to_even", "lead", 0.01, 0.125, "nurture", 12),
    ("just_below", "lead", 0.2999, 0.4999, "nurture", 50),
]


def scored_rows() -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [r[0] for r in ROWS], "current_stage": [r[1] for r in ROWS],
                         "p_mql": [r[2] for r in ROWS], "p_sql": [r[3] for r in ROWS],
                         "reasons": ["visits=3 (+)"] * len(ROWS)})


def test_routing_score_and_report_by_hand():
    features = pd.DataFrame({"visits": np.arange(len(ROWS), dtype=float)})
    table, report, warnings = finish_scores(
        scored_rows(), ["mql", "sql"], Artifacts({"mql": 0.30, "sql": 0.50}),
        ModelRef(uri="models:/lead-quality@champion", name="lead-quality", version="7", run_id=None, tracking_uri=""), AS_OF, "2026-06-02T00:00:00+00:00", features, [])
    assert list(table.columns) == score_header(["mql", "sql"])
    assert table["stage"].tolist() == [r[4] for r in ROWS]
    assert table["score"].tolist() == [r[5] for r in ROWS]
    assert table["score"].dtype.kind == "i"  # whole percents: written as 49, not 49.0
    assert table["scored_at"].unique().tolist() == ["2026-06-02T00:00:00+00:00"]
    assert table["model_name"].unique().tolist() == ["lead-quality"]
    assert table["model_version"].unique().tolist() == ["7"]
    assert table["as_of"].unique().tolist() == ["2026-06-01T00:00:00+00:00"]
    assert report["leads_scored"] == len(ROWS) and report["model_version"] == "7"
    assert report["stage_share"] == pytest.approx({"SQL": 4 / 9, "MQL": 2 / 9, "nurture": 3 / 9})
    assert report["psi"] == {} and warnings == []
    assert {k: v for k, v in report.items() if k != "stage_share"} == {
        "leads_scored": 9, "as_of": "2026-06-01T00:00:00+00:00", "scored_at": "2026-06-02T00:00:00+00:00",
        "model_uri": "models:/lead-quality@champion", "model_version": "7", "engine": "duckdb", "psi": {},
        "psi_warning_level": 0.2, "warnings": []}


def test_an_unregistered_model_is_named_by_its_uri_and_drift_is_reported():
    rng = np.random.default_rng(0)
    reference = {"scores": {"p_sql": reference_bins(rng.uniform(0, 0.2, 1000))},
                 "features": {"visits": reference_bins(rng.poisson(3, 1000).astype(float))}}
    features = pd.DataFrame({"visits": np.full(len(ROWS), 3.0)})
    table, report, warnings = finish_scores(
        scored_rows(), ["mql", "sql"], Artifacts({"mql": 0.3, "sql": 0.5}, reference),
        ModelRef(uri="runs:/abc/model", name="", version="runs:/abc/model", run_id=None, tracking_uri=""), AS_OF, "now", features, ["earlier warning"])
    assert (table["model_name"] == "runs:/abc/model").all()
    # p_sql (a reached SQL counts as 1.0) mostly above the training range; visits all in one bin
    assert report["psi"]["p_sql"] > 1 and report["psi"]["visits"] > 0.2
    assert warnings[0] == "earlier warning"
    assert any(w.startswith("drift: PSI of p_sql is ") and "(over 0.2)" in w for w in warnings)
    assert len(warnings) == 3


def test_one_target_routes_by_it_alone():
    scored = pd.DataFrame({"lead_id": ["a", "b"], "current_stage": ["lead", "lead"],
                           "p_won": [0.6, 0.59], "reasons": ["", ""]})
    table, _, _ = finish_scores(scored, ["won"], Artifacts({"won": 0.6}), ModelRef(uri="models:/m@champion", name="m", version="1", run_id=None, tracking_uri=""),
                                AS_OF, "now", pd.DataFrame(index=range(2)), [])
    assert table["stage"].tolist() == ["WON", "nurture"] and table["score"].tolist() == [60, 59]


def test_funnel_order_puts_known_stages_first_in_funnel_order_then_the_others_as_listed():
    assert funnel_order(["customer", "mql"]) == ["mql", "customer"]
    assert funnel_order(["won", "sql", "demo", "mql"]) == ["mql", "sql", "won", "demo"]
    assert funnel_order(["won"]) == ["won"]


def test_a_lead_with_a_missing_or_unknown_stage_is_routed_by_its_probabilities_alone():
    frame = pd.DataFrame({"current_stage": [None, "churned", None, "customer", "lead"],
                          "p_mql": [0.10, 0.10, 0.35, np.nan, 0.30],
                          "p_sql": [0.20, 0.20, 0.10, np.nan, 0.49]})
    stages = route_stages(frame, ["mql", "sql"], {"mql": 0.30, "sql": 0.50})
    # no stage reached counts as "lead"; a customer has reached SQL (the last target)
    assert stages.tolist() == ["nurture", "nurture", "MQL", "SQL", "MQL"]


@pytest.fixture(scope="module")
def pipelines():
    spec = FeatureSpec(include_engagement=False, numeric_attributes=["visits"], categorical_attributes=["source"])
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"lead_age_days": rng.uniform(0, 100, 2000), "visits": rng.poisson(3, 2000).astype(float),
                      "source": rng.choice(["web", "ads", None], 2000)})
    models = {}
    for target, slope in (("mql", 0.5), ("sql", 0.3)):
        y = (rng.random(2000) < 1 / (1 + np.exp(-(slope * X["visits"] - 2)))).astype(int)
        pipe = build_candidates(spec, load_config(None).candidates, 0)["logistic"].fit(X, y)
        models[target] = CalibratedClassifierCV(FrozenEstimator(pipe), method="sigmoid").fit(X, y)
    return spec, models, X


def test_a_chunk_is_scored_with_the_models_probabilities_and_reached_stages_masked(pipelines):
    spec, models, X = pipelines
    rows = X.head(6)
    keys = pd.DataFrame({"lead_id": list("abcdef"), "current_stage": ["lead", "mql", "sql", "lead", "mql", "lead"]})
    part = score_chunk(models, spec, ["mql", "sql"], keys, rows)
    assert part.columns.tolist() == ["lead_id", "current_stage", "p_mql", "p_sql", "reasons"]
    for target in ("mql", "sql"):
        expected = models[target].predict_proba(rows[spec.feature_columns()])[:, 1]
        reached = keys["current_stage"].isin(["mql", "sql"] if target == "mql" else ["sql"]).to_numpy()
        assert part[f"p_{target}"].isna().tolist() == reached.tolist()
        np.testing.assert_allclose(part.loc[~reached, f"p_{target}"], expected[~reached], rtol=1e-12)
    # reasons explain p_sql: at most three, each naming a feature with its value and sign
    for text, visits in zip(part["reasons"], rows["visits"]):
        named = dict(r.rsplit(" ", 1)[0].split("=", 1) for r in text.split("; "))
        assert set(named) <= set(spec.feature_columns()) and len(named) <= 3
        assert named.get("visits", f"{visits:g}") == f"{visits:g}"


@pytest.mark.parametrize(("ref", "expected"), [
    (None, ("models:/lead-quality@champion", "lead-quality", "champion")),
    ("lead-quality@challenger", ("models:/lead-quality@challenger", "lead-quality", "challenger")),
    ("models:/x/3", ("models:/x/3", "x", "3")),
    ("x", ("models:/x@champion", "x", "champion")),
    ("runs:/abc/model", ("runs:/abc/model", "", "runs:/abc/model")),
])
def test_model_references(ref, expected):
    assert parse_model_ref(ref) == expected


def test_stale_data_warns_after_two_days():
    assert stale_data_warning(AS_OF, AS_OF + pd.Timedelta(days=2)) == []
    warning = stale_data_warning(AS_OF, AS_OF + pd.Timedelta(days=2, seconds=1))
    assert len(warning) == 1 and "2026-06-01T00:00:00+00:00, which is 2 days before now" in warning[0]
    assert stale_data_warning(AS_OF, AS_OF + pd.Timedelta(days=9, hours=23)) == [
        "--as-of defaults to the latest event, 2026-06-01T00:00:00+00:00, which is 9 days before now: "
        "recency features describe that day"]


def test_a_chunk_explains_the_last_target_and_masks_only_stages_the_lead_reached():
    """Reasons explain the funnel's last target (here `won`, outside the contract's stages, which
    no lead can have reached), and a missing or unknown stage counts as a plain lead."""
    spec = FeatureSpec(include_engagement=False, numeric_attributes=["visits"])
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"lead_age_days": rng.uniform(0, 100, 600), "visits": rng.poisson(3, 600).astype(float)})
    models = {}
    for target, slope in (("mql", -1.0), ("won", 1.0)):  # visits lower p_mql and raise p_won
        y = (rng.random(600) < 1 / (1 + np.exp(-slope * (X["visits"] - 3)))).astype(int)
        models[target] = build_candidates(spec, load_config(None).candidates, 0)["logistic"].fit(X, y)
    rows = pd.DataFrame({"lead_age_days": [50.0, 50.0, 50.0, 50.0], "visits": [10.0, 0.0, 10.0, 10.0]},
                        index=[7, 3, 11, 5])
    keys = pd.DataFrame({"lead_id": list("abcd"), "current_stage": [None, "churned", "customer", "mql"]})
    part = score_chunk(models, spec, ["mql", "won"], keys, rows)
    assert part["lead_id"].tolist() == list("abcd") and part.index.tolist() == [0, 1, 2, 3]
    assert part["p_mql"].notna().tolist() == [True, True, False, False]
    assert part["p_won"].notna().all()
    np.testing.assert_allclose(part["p_mql"][:2], models["mql"].predict_proba(rows[:2])[:, 1], rtol=1e-12)
    np.testing.assert_allclose(part["p_won"], models["won"].predict_proba(rows)[:, 1], rtol=1e-12)
    visits_reason = [next(r for r in text.split("; ") if r.startswith("visits=")) for text in part["reasons"]]
    assert visits_reason == ["visits=10 (+)", "visits=0 (-)", "visits=10 (+)", "visits=10 (+)"]
    alone = score_chunk({"won": models["won"]}, spec, ["won"], keys, rows)
    assert alone.columns.tolist() == ["lead_id", "current_stage", "p_won", "reasons"]
    assert alone["reasons"].tolist() == part["reasons"].tolist()
