"""The fast paths of the one-pass scorer keep their promises: categorical columns are encoded
once per distinct value (not per row), a dense ColumnTransformer comes out block by block as
one column-major float64 array equal to scikit-learn's, the trees' leaves and credits come out
the same in threads, and the scoring entry points fall back to scikit-learn's own path for
models they do not decompose. Small hand-made pipelines, compared with scikit-learn's own
`transform` / `predict_proba` / `decision_function` and with a plain walk down each tree."""

import threading
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import SVC

from leadq.models import reasons
from leadq.models.candidates import CategoryNormalizer
from leadq.models.reasons import (BoostedTrees, _fast_column_transform, _in_threads, _origins, _output_columns,
                                  _split, _threads_for, feature_contributions, reason_texts, score_and_explain,
                                  top_reasons, transform_features)


def frame(n=300, seed=1):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "age": rng.uniform(0, 50, n),
        "visits": rng.poisson(2, n).astype(float),
        "source": rng.choice(["Google", " google", "Referral", None, ""], n).astype(object),
        "tier": rng.choice([1.0, 2.0, 3.0, np.nan], n),
        "empty": np.full(n, np.nan),
        "noise": rng.normal(size=n),
    })
    y = ((X["visits"] + (X["source"] == "Referral") * 2 + rng.normal(size=n)) > 2.5).astype(int)
    return X, y


@pytest.fixture
def calls(monkeypatch):
    """Rows each OrdinalEncoder / CategoryNormalizer / FunctionTransformer `transform` call saw."""
    seen = {OrdinalEncoder: [], CategoryNormalizer: [], FunctionTransformer: []}
    for cls, rows in seen.items():
        original = cls.transform

        def spy(self, X, *args, _original=original, _rows=rows, **kwargs):
            _rows.append(np.shape(X)[0])
            return _original(self, X, *args, **kwargs)

        monkeypatch.setattr(cls, "transform", spy)
    return seen


@pytest.fixture(scope="module")
def blocks():
    """A ColumnTransformer of every block kind: labels normalised then ordinal-encoded, a bare
    ordinal encoder over numbers (one column all missing), a passthrough, a row-dependent
    function, a dropped block, a block of no columns, then a scaler."""
    X, y = frame()
    ct = ColumnTransformer([
        ("cat", make_pipeline(CategoryNormalizer(), OrdinalEncoder(handle_unknown="use_encoded_value",
                                                                    unknown_value=np.nan)), ["source"]),
        ("num_codes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["tier", "empty"]),
        ("keep", "passthrough", ["age", "visits"]),
        ("running", FunctionTransformer(lambda a: np.cumsum(np.asarray(a, dtype=float), axis=0),
                                        feature_names_out="one-to-one"), ["noise"]),
        ("gone", "drop", ["visits"]),
        ("nothing", OrdinalEncoder(), []),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-missing column has no mean
        pre = Pipeline([("features", ct), ("scale", StandardScaler())]).fit(X, y)
    return pre, X


def test_dense_column_transformer_is_scikit_learns_transform_encoded_per_distinct_value(blocks, calls):
    pre, X = blocks
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. an encoder fitted with feature names given none
        expected = pre.transform(X)
        for rows in calls.values():
            rows.clear()
        out = transform_features(pre, X)
    # each label and number encoded once (4 labels and missing; 3 numbers and missing), the
    # row-dependent function on every row, the passthrough columns copied untouched
    assert calls[CategoryNormalizer] == [5] and calls[OrdinalEncoder] == [5, 4]
    assert calls[FunctionTransformer] == [len(X)]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64 and out.flags.f_contiguous
    ct = pre[0]
    np.testing.assert_array_equal(transform_features(ct, X), ct.transform(X))


def test_column_positions_and_masks_on_arrays(calls):
    X, _ = frame(120)
    A = X[["age", "visits", "tier", "noise"]].to_numpy()
    ct = ColumnTransformer([("codes", OrdinalEncoder(), np.array([False, False, True, False])),
                            ("keep", "passthrough", [1, 0]),
                            ("none", StandardScaler(), np.zeros(4, dtype=bool))]).fit(A)
    for rows in calls.values():
        rows.clear()
    out = transform_features(ct, A)
    assert calls[OrdinalEncoder] == [4] and calls[FunctionTransformer] == []
    np.testing.assert_array_equal(out, ct.transform(A))
    # a DataFrame selected by positions
    by_position = ColumnTransformer([("keep", "passthrough", [3, 1]), ("codes", OrdinalEncoder(), [2])]).fit(X)
    np.testing.assert_array_equal(transform_features(by_position, X), by_position.transform(X))
    assert [list(c) for c in _output_columns(ct, 4)] == [[2], [1, 0]]
    named = ColumnTransformer([("b", "passthrough", ["tier", "age"]), ("a", "drop", ["visits"]),
                               ("c", OrdinalEncoder(), ["source"])]).fit(X)
    assert [list(c) for c in _output_columns(named, X.shape[1])] == [[3, 0], [2]]


def test_strict_encoders_and_label_arrays_see_only_values_of_their_column(calls):
    """An encoder that refuses what it never saw (`handle_unknown="error"`) is given no missing
    value for a column that has none, and no other column's value; labels in an object array
    stay labels."""
    X, _ = frame(200)
    X = X.assign(tier=X["tier"].fillna(2.0))  # 3 numbers, no missing; `visits` has more
    strict = ColumnTransformer([("codes", OrdinalEncoder(), ["tier", "visits"])]).fit(X)
    np.testing.assert_array_equal(transform_features(strict, X), strict.transform(X))
    A = X[["source", "age"]].to_numpy()  # labels and numbers in one object array
    labels = ColumnTransformer([
        ("cat", make_pipeline(CategoryNormalizer(), OrdinalEncoder(handle_unknown="use_encoded_value",
                                                                    unknown_value=np.nan)), [0]),
        ("keep", "passthrough", [1])]).fit(A)
    for rows in calls.values():
        rows.clear()
    np.testing.assert_array_equal(transform_features(labels, A), labels.transform(A).astype(float))
    assert calls[CategoryNormalizer][0] == 5  # 4 labels and missing, not 200 rows


def test_sparse_or_unusual_output_is_left_to_scikit_learn():
    X, y = frame(80)
    sparse = ColumnTransformer([("hot", OneHotEncoder(), ["source"])], sparse_threshold=1.0).fit(X.fillna("x"))
    assert sparse.sparse_output_
    assert _fast_column_transform(sparse, X.fillna("x")) is None
    to32 = make_pipeline(ColumnTransformer([("keep", "passthrough", ["age", "visits"])]),
                         FunctionTransformer(lambda a: np.asarray(a, dtype=np.float32))).fit(X)
    out = transform_features(to32, X)
    assert out.dtype == np.float64 and out.flags.f_contiguous
    np.testing.assert_array_equal(out, to32.transform(X).astype(np.float64))


def test_origins_prefer_the_longest_column_name():
    names = ["cat__Lead Source_google", "num__Lead", "missingindicator_Lead", "Lead Source", "x__Lead_y"]
    assert _origins(names, ["Lead", "Lead Source"]).tolist() == [1, 0, 0, 1, 0]


# --- models the scorer does not decompose, and a middle preprocessing step -------------------


@pytest.fixture(scope="module")
def small():
    X, y = frame(200)
    X = X[["age", "visits", "noise"]]
    return X, y


def test_uncalibrated_pipeline_scores_and_explains_by_scikit_learn(small):
    X, y = small
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    X = X.set_axis(np.arange(len(X)) + 1000)
    p, contributions = score_and_explain(pipe, X, explain=True)
    np.testing.assert_array_equal(p, pipe.predict_proba(X)[:, 1])
    expected = pipe[:-1].transform(X) * pipe[-1].coef_[0]
    np.testing.assert_allclose(contributions, expected, rtol=1e-12)
    frame_ = feature_contributions(pipe, X, list(X.columns))
    assert frame_.index.equals(X.index)
    assert score_and_explain(pipe, X)[1] is None


def test_calibrated_models_of_other_shapes(small):
    X, y = small
    svc = CalibratedClassifierCV(FrozenEstimator(make_pipeline(StandardScaler(), SVC()).fit(X, y))).fit(X, y)
    np.testing.assert_allclose(score_and_explain(svc, X)[0], svc.predict_proba(X)[:, 1], rtol=1e-12)
    with pytest.raises(TypeError, match="no reasons for SVC"):
        feature_contributions(svc, X, list(X.columns))
    bare = CalibratedClassifierCV(FrozenEstimator(LogisticRegression().fit(X, y))).fit(X, y)
    np.testing.assert_allclose(score_and_explain(bare, X)[0], bare.predict_proba(X)[:, 1], rtol=1e-12)
    folds = CalibratedClassifierCV(make_pipeline(StandardScaler(), LogisticRegression()), cv=2).fit(X, y)
    np.testing.assert_allclose(score_and_explain(folds, X)[0], folds.predict_proba(X)[:, 1], rtol=1e-12)


def test_every_preprocessing_step_and_the_callers_column_order(small):
    X, y = small
    pipe = Pipeline([("features", ColumnTransformer([("keep", "passthrough", list(X.columns))])),
                     ("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    model = CalibratedClassifierCV(FrozenEstimator(pipe)).fit(X, y)
    p, contributions = score_and_explain(model, X, explain=True)
    np.testing.assert_allclose(p, model.predict_proba(X)[:, 1], rtol=1e-12)
    a = model.calibrated_classifiers_[0].calibrators[0].a_
    sign = -1.0 if a > 0 else 1.0
    np.testing.assert_allclose(contributions, sign * pipe[:-1].transform(X) * pipe[-1].coef_[0], rtol=1e-12)
    reverse = list(X.columns)[::-1]
    _, reversed_ = score_and_explain(model, X, reverse, explain=True)
    np.testing.assert_array_equal(reversed_, contributions[:, ::-1])
    # a gentle decreasing map (0 < a <= 1) still flips the signs
    model.calibrated_classifiers_[0].calibrators[0].a_ = 0.5
    np.testing.assert_allclose(score_and_explain(model, X, explain=True)[1],
                               -pipe[:-1].transform(X) * pipe[-1].coef_[0], rtol=1e-12)
    model.calibrated_classifiers_[0].calibrators[0].a_ = a


# --- trees: leaves, credits, threads -------------------------------------------------------


def _means(nodes):
    means = {}

    def mean(i):
        if i not in means:
            if nodes[i]["is_leaf"]:
                means[i] = float(nodes[i]["value"])
            else:
                left, right = int(nodes[i]["left"]), int(nodes[i]["right"])
                n_left, n_right = float(nodes[left]["count"]), float(nodes[right]["count"])
                means[i] = (n_left * mean(left) + n_right * mean(right)) / (n_left + n_right)
        return means[i]

    return [mean(i) for i in range(len(nodes))]


def _reference(clf, X, input_of):
    """(decision, credits per input column) walking each row down each tree in Python; the
    trees read the classifier's encoded columns, `input_of[f]` is the input column of f."""
    E = clf._preprocessor.transform(X) if clf._preprocessor is not None else X
    known, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
    raw = np.full(len(X), float(np.ravel(clf._baseline_prediction)[0]))
    credits = np.zeros(X.shape)
    for (predictor,) in clf._predictors:
        nodes, means = predictor.nodes, _means(predictor.nodes)
        for r in range(len(X)):
            i = 0
            while not nodes[i]["is_leaf"]:
                node, value = nodes[i], E[r, nodes[i]["feature_idx"]]
                if np.isnan(value):
                    left = bool(node["missing_go_to_left"])
                elif node["is_categorical"]:
                    code = int(value)
                    bits = predictor.raw_left_cat_bitsets[node["bitset_idx"]]
                    seen = known[f_idx_map[node["feature_idx"]]]
                    if (int(bits[code // 32]) >> (code % 32)) & 1:
                        left = True
                    elif (int(seen[code // 32]) >> (code % 32)) & 1:
                        left = False
                    else:
                        left = bool(node["missing_go_to_left"])
                else:
                    left = value <= node["num_threshold"]
                child = int(node["left"] if left else node["right"])
                credits[r, input_of[int(node["feature_idx"])]] += means[child] - means[i]
                i = child
            raw[r] += float(nodes[i]["value"])
    return raw, credits


@pytest.fixture(scope="module")
def categorical_last():
    """Trees over [number, number, category]: the classifier's own encoder puts the category
    first, and the category's values (10, 20, 40) are not its codes."""
    rng = np.random.default_rng(3)
    n = 400
    X = np.column_stack([rng.normal(size=n), rng.uniform(size=n), rng.choice([10.0, 20.0, 40.0, np.nan], n)])
    y = ((X[:, 2] == 20) | (X[:, 0] > 1)).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=6, categorical_features=[2],
                                         random_state=0).fit(X, y)
    return clf, X


def test_trees_over_a_reordered_category(categorical_last, calls, monkeypatch):
    clf, X = categorical_last
    trees = BoostedTrees.for_classifier(clf)
    assert BoostedTrees.for_classifier(clf) is trees  # built once per model
    for rows in calls.values():
        rows.clear()
    encoded = trees.encode(X)
    assert calls[OrdinalEncoder] == [4]  # three categories and missing, not 400 rows
    np.testing.assert_array_equal(encoded, clf._preprocessor.transform(X))
    assert encoded.flags.f_contiguous and encoded.dtype == np.float64
    leaves = trees.leaves(X)
    assert leaves.dtype == np.uint8
    np.testing.assert_array_equal(trees.raw(leaves), clf.decision_function(X))
    raw, credits = _reference(clf, X, input_of=[2, 0, 1])
    np.testing.assert_allclose(trees.raw(leaves), raw, rtol=1e-12)
    np.testing.assert_allclose(trees.credits_per_column(leaves, X.shape[1]), credits, rtol=1e-9, atol=1e-12)
    # split over threads (few rows per thread here): the same leaves and credits
    parts = []

    def counting(work, split):
        parts.append(len(split))
        return _in_threads(work, split)

    monkeypatch.setattr(reasons, "MIN_ROWS_PER_THREAD", 10)
    monkeypatch.setattr(reasons, "_in_threads", counting)
    for n_threads in (1, 3):
        np.testing.assert_array_equal(trees.leaves(X, n_threads=n_threads), leaves)
        np.testing.assert_allclose(trees.credits_per_column(leaves, X.shape[1], n_threads=n_threads), credits,
                                   rtol=1e-9, atol=1e-12)
    assert parts == [1, 1, 3, 3]


def test_trees_without_categories(small):
    X, y = small
    clf = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=4, random_state=0).fit(X.to_numpy(), y)
    assert clf._preprocessor is None
    trees = BoostedTrees(clf)
    leaves = trees.leaves(X.to_numpy())
    np.testing.assert_array_equal(trees.raw(leaves), clf.decision_function(X.to_numpy()))
    _, credits = _reference(clf, X.to_numpy(), input_of=[0, 1, 2])
    np.testing.assert_allclose(trees.credits_per_column(leaves, 3), credits, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_leaves", [256, 257])
def test_leaf_numbers_fit_their_type(max_leaves):
    """Up to 256 leaves per tree a leaf number is one byte; one more needs a wider type."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 3))
    y = rng.integers(0, 2, 1200)
    clf = HistGradientBoostingClassifier(max_iter=1, max_leaf_nodes=max_leaves, min_samples_leaf=1,
                                         l2_regularization=0.0, max_bins=255, early_stopping=False).fit(X, y)
    assert clf._predictors[0][0].nodes["is_leaf"].sum() == max_leaves
    trees = BoostedTrees(clf)
    leaves = trees.leaves(X)
    assert leaves.dtype == (np.uint8 if max_leaves == 256 else np.uint32)
    np.testing.assert_array_equal(trees.raw(leaves), clf.decision_function(X))


def test_threads_and_splits():
    assert _split(10, 3) == [range(0, 3), range(3, 6), range(6, 10)]
    assert _split(4, 1) == [range(0, 4)]
    assert _threads_for(100, 4) == 1
    assert _threads_for(3 * reasons.MIN_ROWS_PER_THREAD // 2, 2) == 1
    assert _threads_for(10 * reasons.MIN_ROWS_PER_THREAD, 3) == 3
    assert _threads_for(10 * reasons.MIN_ROWS_PER_THREAD, 1) == 1
    seen = []

    def work(part):
        seen.append((part, threading.current_thread() is threading.main_thread()))

    _in_threads(work, [range(0, 2)])
    assert seen == [(range(0, 2), True)]
    seen.clear()
    _in_threads(work, [range(0, 2), range(2, 5)])
    assert sorted((p.start, p.stop, main) for p, main in seen) == [(0, 2, False), (2, 5, False)]


# --- reason text -----------------------------------------------------------------------------


def test_reason_text_edges():
    features = pd.DataFrame({"code": pd.Series(["007", "1.50", None], dtype=object),
                             "text": pd.Series(["007", "1.50", None], dtype="str"),
                             "count": pd.array([3, None, 12], dtype="Int64"),
                             "x": [10000.25, 10000.5, -3.0], "big": [123456789012.0, 1e15, 2.0]})
    contributions = pd.DataFrame({"code": [1.0, -2.0, 0.5], "count": [0.5, 1.0, -3.0], "x": [2.0, 0.0, 0.1]},
                                 index=[7, 8, 9])
    reasons_ = top_reasons(contributions, features)
    assert reasons_.index.tolist() == [7, 8, 9]
    assert reasons_.tolist() == ["x=10000.2 (+); code=007 (+); count=3 (+)", "code=1.50 (-); count=missing (+)",
                                 "count=12 (-); code=missing (+); x=-3 (+)"]
    assert top_reasons(contributions, features, n=1).tolist() == ["x=10000.2 (+)", "code=1.50 (-)", "count=12 (-)"]
    one = reason_texts(np.array([[0.0, -1.0]]), ["code", "x"], features.iloc[[1]])
    assert one.to_pylist() == ["x=10000.5 (-)"]
    assert reason_texts(np.ones(3), ["x"], features).to_pylist() == ["", "", ""]
    assert reason_texts(np.ones((3, 1)), ["big"], features).to_pylist() == [  # no exponent for whole numbers
        "big=123456789012 (+)", "big=1000000000000000 (+)", "big=2 (+)"]
    assert top_reasons(contributions.rename(columns={"code": "text"}), features).tolist() == reasons_.str.replace(
        "code=", "text=").tolist()  # text of pandas' own string type reads as written too
    assert reason_texts(np.ones((3, 0)), [], features).to_pylist() == ["", "", ""]
    empty = reason_texts(np.ones((0, 2)), ["code", "x"], features.iloc[:0])
    assert empty.to_pylist() == [] and empty.type == pa.string()
    narrow = pd.DataFrame({"f": np.array([0.29, 1.5, 0.125], dtype=np.float32)})  # rounded as float64
    assert top_reasons(pd.DataFrame({"f": [1.0, 1.0, 1.0]}), narrow).tolist() == ["f=0.29 (+)", "f=1.5 (+)",
                                                                                   "f=0.12 (+)"]
