"""Reasons are exact decompositions of the model's log-odds and read in plain feature names."""

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from leadq.candidates import build_candidates
from leadq.config import load_config
from leadq.feature_spec import FeatureSpec
from leadq.reasons import feature_contributions, top_reasons

SPEC = FeatureSpec(include_engagement=False, numeric_attributes=["visits", "Time on site (min)"],
                   categorical_attributes=["Lead Source"])


def data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "lead_age_days": rng.uniform(0, 100, n),
        "visits": rng.poisson(3, n).astype(float),
        "Time on site (min)": rng.exponential(5, n),
        "Lead Source": rng.choice(["Google", "referral", "Olark Chat", None], n),
    })
    X.loc[:50, "visits"] = np.nan
    logit = 0.6 * X["visits"].fillna(0) - 2 + 1.2 * (X["Lead Source"] == "referral")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module", params=["logistic", "hist_gradient_boosting"])
def fitted(request):
    X, y = data()
    pipe = build_candidates(SPEC, load_config(None).candidates, 0)[request.param]
    pipe.fit(X[SPEC.feature_columns()], y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipe), method="sigmoid").fit(X[SPEC.feature_columns()], y)
    return pipe, calibrated, X


def test_contributions_add_up_to_the_log_odds(fitted):
    pipe, calibrated, X = fitted
    contributions = feature_contributions(calibrated, X, SPEC.feature_columns())
    assert list(contributions.columns) == SPEC.feature_columns()
    offset = pipe.decision_function(X[SPEC.feature_columns()]) - contributions.sum(axis=1).to_numpy()
    assert np.ptp(offset) < 1e-6  # the same constant for every lead: an exact decomposition


def test_visits_push_the_score_up(fitted):
    _, calibrated, X = fitted
    contributions = feature_contributions(calibrated, X, SPEC.feature_columns())
    many = X["visits"] >= 7
    assert (contributions.loc[many, "visits"] > 0).mean() > 0.9


def test_reason_text_names_features_in_the_datas_own_words(fitted):
    _, calibrated, X = fitted
    contributions = feature_contributions(calibrated, X, SPEC.feature_columns())
    reasons = top_reasons(contributions, X)
    assert len(reasons) == len(X)
    first = reasons.iloc[0].split("; ")
    assert 1 <= len(first) <= 3
    assert all(r.endswith(" (+)") or r.endswith(" (-)") for r in first)
    names = {r.split("=")[0] for text in reasons for r in text.split("; ") if r}
    assert names <= set(SPEC.feature_columns())
    assert any("Time on site (min)=" in text for text in reasons)


def test_top_reasons_hand_checked():
    contributions = pd.DataFrame({"a": [0.5, -2.0], "b": [-1.0, 0.0], "c": [0.1, 0.3]})
    features = pd.DataFrame({"a": [4.0, 1.5], "b": [2.0, 0.0], "c": ["x", None]})
    reasons = top_reasons(contributions, features)
    assert reasons.tolist() == ["b=2 (-); a=4 (+); c=x (+)", "a=1.5 (-); c=missing (+)"]
