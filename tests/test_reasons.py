"""Reasons are exact decompositions of the model's log-odds and read in plain feature names; the
one-pass scoring path gives scikit-learn's probabilities whatever the batch or thread count."""

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from leadq.models.candidates import build_candidates
from leadq.config import load_config
from leadq.features.spec import FeatureSpec
from leadq.models.reasons import (BoostedTrees, _unwrap, feature_contributions, score_and_explain, top_reasons,
                           transform_features)

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


def test_one_pass_scores_equal_predict_proba_and_explain_the_same(fitted):
    """The scoring path's probabilities are scikit-learn's, bit for bit, and its contributions
    (computed in the same pass) are those of `feature_contributions`."""
    _, calibrated, X = fitted
    columns = SPEC.feature_columns()
    p, none = score_and_explain(calibrated, X[columns], columns)
    p_explained, contributions = score_and_explain(calibrated, X[columns], columns, explain=True)
    assert none is None
    np.testing.assert_allclose(p, calibrated.predict_proba(X[columns])[:, 1], rtol=1e-13, atol=0)
    if isinstance(_unwrap(calibrated)[1], HistGradientBoostingClassifier):  # the same sums
        np.testing.assert_array_equal(p, calibrated.predict_proba(X[columns])[:, 1])
    np.testing.assert_array_equal(p_explained, p)
    np.testing.assert_array_equal(contributions, feature_contributions(calibrated, X, columns).to_numpy())


def test_scores_and_reasons_do_not_depend_on_batch_or_threads(fitted):
    _, calibrated, X = fitted
    columns = SPEC.feature_columns()
    whole, credits = score_and_explain(calibrated, X[columns], columns, explain=True)
    parts = [score_and_explain(calibrated, X[columns].iloc[s:s + 999], columns, explain=True)
             for s in range(0, len(X), 999)]
    np.testing.assert_array_equal(np.concatenate([p for p, _ in parts]), whole)
    np.testing.assert_array_equal(np.concatenate([c for _, c in parts]), credits)
    pre, clf, _ = _unwrap(calibrated)
    if isinstance(clf, HistGradientBoostingClassifier):
        trees = BoostedTrees.for_classifier(clf)
        Xt = transform_features(pre, X[columns])
        one, two = trees.leaves(Xt, n_threads=1), trees.leaves(Xt, n_threads=2)
        np.testing.assert_array_equal(one, two)
        np.testing.assert_array_equal(trees.credits_per_column(one, Xt.shape[1], n_threads=1),
                                      trees.credits_per_column(two, Xt.shape[1], n_threads=2))


def test_messy_category_labels_score_like_clean_ones(fitted):
    _, calibrated, X = fitted
    columns = SPEC.feature_columns()
    clean = X[columns].head(200).assign(**{"Lead Source": "referral"})
    messy = clean.assign(**{"Lead Source": np.where(np.arange(200) % 2, "  Referral ", "REFERRAL")})
    np.testing.assert_array_equal(score_and_explain(calibrated, messy, columns)[0],
                                  score_and_explain(calibrated, clean, columns)[0])


def test_top_reasons_ties_zeros_and_missing():
    contributions = pd.DataFrame({"a": [1.0, 0.0, -0.5, 0.0], "b": [-1.0, 0.0, 0.0, 2.0],
                                  "c": [1.0, 0.0, 0.0, 0.0], "d": [0.2, 0.0, 0.0, -2.0]})
    features = pd.DataFrame({"a": [1.234, 2.0, np.nan, 3.0], "b": [0.5, 1.0, 1.0, 1e6],
                             "c": pd.array(["x", None, "y", "z"], dtype="string"),
                             "d": [7.0, 0.0, 0.0, 123456.789]})
    reasons = top_reasons(contributions, features)
    assert reasons.tolist() == [
        "a=1.23 (+); b=0.5 (-); c=x (+)",  # equal sizes: the earlier column first
        "",                                 # nothing moves the score: no reasons
        "a=missing (-)",
        "b=1000000 (+); d=123457 (-)",
    ]
