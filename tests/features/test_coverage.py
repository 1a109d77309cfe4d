"""What real exports lack: constant features leave the spec with one warning line per cause, and
no estimator fails on an empty column."""

import numpy as np
import pandas as pd
import pytest

from leadq.config import CandidatesConfig
from leadq.core.errors import BadInputError
from leadq.features.coverage import drop_constant_features
from leadq.features.spec import FeatureSpec
from leadq.models.candidates import build_candidates, gradient_boosting_pipeline

SPEC = FeatureSpec(
    event_types=["page_view", "form_submit"], windows_days=[7], recency_types=["form_submit"],
    duration_types=["page_view"], return_event_type="page_view", journey_types=["page_view"],
    numeric_attributes=["employees"], categorical_attributes=["industry", "region", "source"],
)


def _examples(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.random(n) for c in SPEC.numeric_columns()})
    frame[["form_submit_7d", "form_submit_all", "other_7d", "other_all", "distinct_pages_all"]] = 0.0
    frame["days_since_last_form_submit"] = np.nan
    frame["no_form_submit"] = 1.0
    frame["time_on_page_view_s_sum"] = np.nan
    frame["time_on_site_s_sum"] = np.nan
    frame["time_on_site_s_mean"] = np.nan
    frame["journey_stage"] = 2.0
    frame["employees"] = [np.nan, 3, 3, 3, 3, 3]            # one value, but missing once: kept
    frame["industry"] = pd.Series([None] * n, dtype=object)
    frame["region"] = "EU"
    frame["source"] = ["web", "ads"] * (n // 2)
    return frame


def test_constant_features_leave_the_spec_with_one_line_per_cause():
    spec, lines = drop_constant_features(_examples(), SPEC, event_columns=["content_id", "channel"])
    assert lines == [
        "training examples: no events of type(s) form_submit in 6 examples: their 4 features are not used",
        "training examples: event column 'duration_s' is absent from the events: time_on_site_s_sum, "
        "time_on_site_s_mean, time_on_page_view_s_sum not used",
        "training examples: event column 'page' is absent from the events: distinct_pages_all not used",
        "training examples: attribute 'industry' is empty in every row: not used",
        "training examples: attribute 'region' is 'EU' in every row: not used",
        "training examples: 1 features hold one value in all 6 examples and are not used: journey_stage",
    ]
    assert spec.categorical_attributes == ["source"] and spec.numeric_attributes == ["employees"]
    assert set(spec.exclude_features) == {
        "form_submit_7d", "form_submit_all", "days_since_last_form_submit", "no_form_submit", "other_7d",
        "other_all", "time_on_site_s_sum", "time_on_site_s_mean", "time_on_page_view_s_sum",
        "distinct_pages_all", "journey_stage"}
    assert "employees" in spec.feature_columns() and "form_submit_7d" not in spec.feature_columns()


def test_an_empty_present_column_is_said_to_be_empty_and_nothing_constant_changes_nothing():
    examples = _examples()
    _, lines = drop_constant_features(examples, SPEC)
    assert "training examples: event column 'page' is empty in every event: distinct_pages_all not used" in lines
    varied = SPEC.model_copy(update={"categorical_attributes": ["source"], "exclude_features": [
        c for c in SPEC.feature_columns() if c not in ("employees", "source", "events_7d")]})
    same, none = drop_constant_features(examples, varied)
    assert same is varied and none == []


def test_nothing_left_to_learn_is_one_line():
    spec = SPEC.model_copy(update={"numeric_attributes": [], "categorical_attributes": ["region"],
                                   "exclude_features": [c for c in SPEC.engagement_columns()] + ["lead_age_days"]})
    with pytest.raises(BadInputError, match="every feature holds one value in all 6 examples"):
        drop_constant_features(_examples(), spec)


def test_gradient_boosting_fits_an_all_missing_column_and_ignores_it():
    rng = np.random.default_rng(1)
    n = 400
    spec = FeatureSpec(include_engagement=False, numeric_attributes=["x", "empty"],
                       categorical_attributes=["c", "none"], exclude_features=["lead_age_days"])
    X = pd.DataFrame({"x": rng.normal(size=n), "empty": np.nan, "c": rng.choice(["a", "b"], n),
                      "none": pd.Series([None] * n, dtype=object)})
    y = (X["x"] + (X["c"] == "a") + rng.normal(scale=0.5, size=n) > 0.5).astype(int)
    config = CandidatesConfig()
    with_empty = gradient_boosting_pipeline(spec, config, seed=0).fit(X, y)
    lean_spec = spec.model_copy(update={"numeric_attributes": ["x"], "categorical_attributes": ["c"]})
    lean = gradient_boosting_pipeline(lean_spec, config, seed=0).fit(X[["x", "c"]], y)
    np.testing.assert_allclose(with_empty.predict_proba(X)[:, 1], lean.predict_proba(X[["x", "c"]])[:, 1])
    # Values that appear at scoring time in a column never seen in training change nothing.
    filled = X.assign(empty=rng.normal(size=n))
    np.testing.assert_allclose(with_empty.predict_proba(filled)[:, 1], with_empty.predict_proba(X)[:, 1])
    for model in build_candidates(spec, config, seed=0).values():  # the logistic model too
        assert model.fit(X, y).predict_proba(X).shape == (n, 2)
