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


def _in_bitset(bitsets, row: int, value: float) -> bool:
    code = int(value)
    return bool((int(bitsets[row][code // 32]) >> (code % 32)) & 1)


def _node_means(nodes) -> list[float]:
    """Each node's training-count-weighted mean of the leaves under it, by recursion."""
    means: dict[int, float] = {}

    def mean(i: int) -> float:
        if i not in means:
            node = nodes[i]
            if node["is_leaf"]:
                means[i] = float(node["value"])
            else:
                left, right = int(node["left"]), int(node["right"])
                n_left, n_right = float(nodes[left]["count"]), float(nodes[right]["count"])
                means[i] = (n_left * mean(left) + n_right * mean(right)) / (n_left + n_right)
        return means[i]

    return [mean(i) for i in range(len(nodes))]


def _walk_credits(predictor, means, x, known, f_idx_map) -> tuple[float, dict[int, float]]:
    """One row down one tree, the plain way: (leaf value, Saabas credit per input column)."""
    nodes = predictor.nodes
    credits: dict[int, float] = {}
    i = 0
    while not nodes[i]["is_leaf"]:
        node = nodes[i]
        value, missing_left = x[node["feature_idx"]], bool(node["missing_go_to_left"])
        if np.isnan(value):
            left = missing_left
        elif node["is_categorical"]:
            if _in_bitset(predictor.raw_left_cat_bitsets, node["bitset_idx"], value):
                left = True
            elif _in_bitset(known, f_idx_map[node["feature_idx"]], value):
                left = False
            else:  # a category unseen in training goes where missing values go
                left = missing_left
        else:
            left = value <= node["num_threshold"]
        child = int(node["left"] if left else node["right"])
        feature = int(node["feature_idx"])
        credits[feature] = credits.get(feature, 0.0) + means[child] - means[i]
        i = child
    return float(nodes[i]["value"]), credits


def brute_force_contributions(model, X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Signed log-odds contributions by an independent reference: Saabas by walking every tree
    row by row for gradient boosting, coefficient times the transformed value for the logistic
    model; transformed columns summed onto the feature whose name they carry. The walk's
    leaf values must add up to scikit-learn's own decision function."""
    calibrated = model.calibrated_classifiers_[0]
    pipeline = calibrated.estimator.estimator  # CalibratedClassifierCV(FrozenEstimator(pipeline))
    pre, clf = pipeline[:-1], pipeline[-1]
    Xt = np.asarray(pre.transform(X[columns]), dtype=float)
    names = [str(n).split("__", 1)[1] for n in pre.get_feature_names_out()]
    owner = [max((c for c in columns if n.removeprefix("missingindicator_").startswith(c)), key=len) for n in names]
    per_column = np.zeros_like(Xt)
    if isinstance(clf, HistGradientBoostingClassifier):
        known, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
        raw = np.full(len(Xt), float(np.ravel(clf._baseline_prediction)[0]))
        for (predictor,) in clf._predictors:
            means = _node_means(predictor.nodes)
            for r in range(len(Xt)):
                leaf, credits = _walk_credits(predictor, means, Xt[r], known, f_idx_map)
                raw[r] += leaf
                for feature, credit in credits.items():
                    per_column[r, feature] += credit
        np.testing.assert_allclose(raw, pipeline.decision_function(X[columns]), rtol=1e-10, atol=1e-10)
    else:
        per_column = Xt * clf.coef_[0]
    # the calibrator maps the log-odds f to p = 1 / (1 + exp(a f + b)): decreasing when a > 0
    sign = -1.0 if calibrated.calibrators[0].a_ > 0 else 1.0
    out = np.zeros((len(X), len(columns)))
    for j, name in enumerate(owner):
        out[:, columns.index(name)] += sign * per_column[:, j]
    return out


@pytest.fixture(scope="module", params=["increasing", "decreasing"])
def calibration_map(request, fitted):
    """The fitted model calibrated as usual, or on flipped labels (a decreasing map: a higher
    raw score means a lower probability, so every contribution's sign must flip)."""
    pipe, calibrated, X = fitted
    if request.param == "increasing":
        return calibrated, X
    _, y = data()
    flipped = CalibratedClassifierCV(FrozenEstimator(pipe), method="sigmoid").fit(X[SPEC.feature_columns()], 1 - y)
    assert flipped.calibrated_classifiers_[0].calibrators[0].a_ > 0
    return flipped, X


def test_one_pass_scores_and_contributions_equal_the_references(calibration_map):
    """The scoring path's probabilities are scikit-learn's, bit for bit for gradient boosting,
    and its contributions (computed in the same pass) are the brute-force reference's."""
    calibrated, X = calibration_map
    columns = SPEC.feature_columns()
    rows = X[columns].iloc[::80]  # 50 rows: the reference walks every tree in Python
    p, none = score_and_explain(calibrated, X[columns], columns)
    assert none is None
    np.testing.assert_allclose(p, calibrated.predict_proba(X[columns])[:, 1], rtol=1e-13, atol=0)
    if isinstance(_unwrap(calibrated)[1], HistGradientBoostingClassifier):  # the same sums
        np.testing.assert_array_equal(p, calibrated.predict_proba(X[columns])[:, 1])
    p_explained, contributions = score_and_explain(calibrated, rows, columns, explain=True)
    np.testing.assert_array_equal(p_explained, p[::80])
    expected = brute_force_contributions(calibrated, rows, columns)
    np.testing.assert_allclose(contributions, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(feature_contributions(calibrated, rows, columns).to_numpy(), expected,
                               rtol=1e-9, atol=1e-9)


def test_contributions_move_the_calibrated_probability_their_way(calibration_map):
    """Whichever way the calibration map runs, the log-odds of the calibrated probability is
    |a| times the sum of the contributions plus one constant: a (+) reason raises p."""
    calibrated, X = calibration_map
    columns = SPEC.feature_columns()
    contributions = feature_contributions(calibrated, X, columns).to_numpy()
    p = calibrated.predict_proba(X[columns])[:, 1]
    slope = abs(calibrated.calibrated_classifiers_[0].calibrators[0].a_)
    offset = np.log(p / (1 - p)) - slope * contributions.sum(axis=1)
    assert np.ptp(offset) < 1e-6
    many_visits = (X["visits"] >= 7).to_numpy()
    decreasing = calibrated.calibrated_classifiers_[0].calibrators[0].a_ > 0
    share_up = (contributions[many_visits, columns.index("visits")] > 0).mean()
    assert share_up < 0.1 if decreasing else share_up > 0.9
    reasons = top_reasons(pd.DataFrame(contributions, columns=columns, index=X.index), X[columns])
    visits_reasons = reasons[many_visits].str.extract(r"visits=\d+ \(([+-])\)")[0].dropna()
    assert len(visits_reasons) > 20
    assert set(visits_reasons) == ({"-"} if decreasing else {"+"})


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


def test_preprocessing_equals_scikit_learns_own_transform_on_messy_values(fitted):
    """The fast path encodes each distinct value once; scikit-learn's transform sees every row.
    Rare, unseen, blank and every kind of missing value must come out the same."""
    pipe, _, X = fitted
    columns = SPEC.feature_columns()
    messy = X[columns].head(600).copy()
    messy["Lead Source"] = np.resize(np.array(["Google", " google ", "Olark Chat", "never seen", "", "  ",
                                               None, np.nan, "referral", "Rare One"], dtype=object), 600)
    messy.loc[messy.index[::7], "visits"] = np.nan
    pre = pipe[:-1]
    expected = pre.transform(messy)
    expected = expected.to_numpy() if hasattr(expected, "to_numpy") else np.asarray(expected)
    np.testing.assert_array_equal(transform_features(pre, messy), expected.astype(np.float64))
    clf = pipe[-1]
    if isinstance(clf, HistGradientBoostingClassifier):
        Xt = transform_features(pre, messy)
        np.testing.assert_array_equal(BoostedTrees.for_classifier(clf).encode(Xt),
                                      clf._preprocessor.transform(Xt))


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


def test_reason_values_read_as_rounded_numbers():
    """Each value as Python formats it after rounding to 2 decimals: integers without a point,
    others with `%g` (six significant digits), -0 as 0, missing as `missing`."""
    values = [3.0, 0.294, 1234.567, -0.5, -0.001, 0.005, 12345.675, 99999.99, 1e20, 2.0**53 + 2, -1e-9,
              9999.994, 9999.996, 1e-7, 250.0, np.nan]

    def by_hand(v):
        if np.isnan(v):
            return "missing"
        r = float(np.round(v, 2)) + 0.0
        return f"{int(r)}" if r.is_integer() else f"{r:g}"

    features = pd.DataFrame({"x": values})
    reasons = top_reasons(pd.DataFrame({"x": np.ones(len(values))}), features)
    assert reasons.tolist() == [f"x={by_hand(v)} (+)" for v in values]
    assert reasons.tolist()[:3] == ["x=3 (+)", "x=0.29 (+)", "x=1234.57 (+)"]
