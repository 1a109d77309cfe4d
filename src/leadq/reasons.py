"""Reasons: each lead's strongest signed feature contributions, in plain feature names.

Method, by model kind (both exact decompositions of the model's log-odds before calibration,
which is monotone, so a sign read here is the sign on the probability):

- gradient boosting: tree-path attribution (Saabas). Each tree's node gets the mean of its
  leaves weighted by training counts; walking a lead's path, the change in that expected value
  at every split is credited to the split's feature. Per tree, the credit of each leaf is a
  small table computed once; a lead needs only its leaf index, which the model's own compiled
  tree walker returns when the leaf values are swapped for leaf numbers. The cost is a second
  pass over the trees plus a gather per tree: about one to two times the prediction.
- logistic regression: coefficient times the lead's standardised value (relative to the
  training mean), summed over a feature's one-hot or missing-indicator columns.

Contributions of the transformed columns are summed back onto the original feature names.
"""

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression

N_REASONS = 3


def _unwrap(model):
    """(preprocessing, classifier, sign) of a calibrated or plain scikit-learn pipeline."""
    sign = 1.0
    if hasattr(model, "calibrated_classifiers_"):
        calibrated = model.calibrated_classifiers_[0]
        calibrator = calibrated.calibrators[0]
        if hasattr(calibrator, "a_") and calibrator.a_ > 0:  # p = 1 / (1 + exp(a f + b))
            sign = -1.0
        model = calibrated.estimator
    if hasattr(model, "estimator") and not hasattr(model, "steps"):  # FrozenEstimator
        model = model.estimator
    return model[:-1], model[-1], sign


def _origins(transformed_names, original_columns) -> np.ndarray:
    """For each transformed column name, the index of the original feature it came from."""
    by_length = sorted(range(len(original_columns)), key=lambda i: -len(original_columns[i]))
    out = np.empty(len(transformed_names), dtype=int)
    for j, name in enumerate(transformed_names):
        base = str(name).split("__", 1)[-1]
        base = base.removeprefix("missingindicator_")
        match = next((i for i in by_length if base == original_columns[i]), None)
        if match is None:
            match = next(i for i in by_length if base.startswith(original_columns[i]))
        out[j] = match
    return out


def _leaf_tables(predictor: TreePredictor, n_features: int):
    """Per leaf of one tree: the Saabas credit per (transformed) feature, and a leaf-numbering tree."""
    nodes = predictor.nodes
    is_leaf = nodes["is_leaf"].astype(bool)
    n_nodes = len(nodes)
    expected = nodes["value"].astype(float).copy()
    count = nodes["count"].astype(float)
    for i in range(n_nodes - 1, -1, -1):  # children come after their parent
        if not is_leaf[i]:
            left, right = nodes["left"][i], nodes["right"][i]
            total = count[left] + count[right]
            expected[i] = (count[left] * expected[left] + count[right] * expected[right]) / total
    leaves = np.flatnonzero(is_leaf)
    used = np.unique(nodes["feature_idx"][~is_leaf])
    column = {f: k for k, f in enumerate(used)}
    table = np.zeros((len(leaves), len(used)))
    parent = np.full(n_nodes, -1)
    for i in np.flatnonzero(~is_leaf):
        parent[nodes["left"][i]] = i
        parent[nodes["right"][i]] = i
    for row, leaf in enumerate(leaves):
        child = leaf
        while parent[child] >= 0:
            node = parent[child]
            table[row, column[nodes["feature_idx"][node]]] += expected[child] - expected[node]
            child = node
    numbered = nodes.copy()
    numbered["value"][leaves] = np.arange(len(leaves), dtype=float)
    walker = TreePredictor(numbered, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets)
    return walker, used, table


def _boosting_contributions(clf: HistGradientBoostingClassifier, Xt: np.ndarray) -> np.ndarray:
    cache = getattr(clf, "_leadq_leaf_tables", None)
    if cache is None:
        cache = [_leaf_tables(trees[0], Xt.shape[1]) for trees in clf._predictors]
        clf._leadq_leaf_tables = cache
    known_bitsets, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
    X = np.ascontiguousarray(Xt, dtype=np.float64)
    out = np.zeros(X.shape, dtype=float)
    n_threads = 1
    for walker, used, table in cache:
        if len(used) == 0:
            continue
        leaf = walker.predict(X, known_bitsets, f_idx_map, n_threads).astype(np.intp)
        out[:, used] += table[leaf]
    return out


def feature_contributions(model, features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Signed log-odds contributions of each original feature for each row of `features`."""
    pre, clf, sign = _unwrap(model)
    X = features[columns]
    Xt = pre.transform(X)
    Xt = Xt.to_numpy(dtype=float) if hasattr(Xt, "to_numpy") else np.asarray(Xt, dtype=float)
    names = pre.get_feature_names_out()
    if isinstance(clf, HistGradientBoostingClassifier):
        per_column = _boosting_contributions(clf, Xt)
    elif isinstance(clf, LogisticRegression):
        per_column = Xt * clf.coef_[0]
    else:  # pragma: no cover - the candidates are the two above
        raise TypeError(f"no reasons for {type(clf).__name__}")
    origin = _origins(names, columns)
    combined = np.zeros((len(X), len(columns)))
    for j in range(per_column.shape[1]):
        combined[:, origin[j]] += per_column[:, j]
    return pd.DataFrame(sign * combined, columns=columns, index=features.index)


def _format_values(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() == values.notna().sum() and values.dtype != object:
        rounded = numeric.round(2)
        text = rounded.map(lambda v: "missing" if pd.isna(v) else (f"{int(v)}" if float(v).is_integer() else f"{v:g}"))
        return text
    return values.astype(object).where(values.notna(), "missing").astype(str)


def top_reasons(contributions: pd.DataFrame, features: pd.DataFrame, n: int = N_REASONS) -> pd.Series:
    """The `n` largest absolute contributions per row as text: `pricing_view_30d=4 (+); ...`."""
    values = contributions.to_numpy()
    columns = np.asarray(contributions.columns, dtype=object)
    k = min(n, values.shape[1])
    if k == 0 or len(values) == 0:
        return pd.Series([""] * len(values), index=contributions.index, dtype=object)
    top = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    rows = np.arange(len(values))[:, None]
    picked = values[rows, top]
    parts = []
    for slot in range(k):
        idx = top[:, slot]
        text = pd.Series([""] * len(values), index=contributions.index, dtype=object)
        for feature_index in np.unique(idx):
            mask = idx == feature_index
            name = columns[feature_index]
            shown = _format_values(features.loc[mask, name])
            sign = np.where(picked[mask, slot] > 0, " (+)", " (-)")
            text[mask] = (name + "=" + shown + sign).to_numpy()
        text[picked[:, slot] == 0] = ""
        parts.append(text)
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.str.cat(part, sep="; ")
    return joined.str.replace(r"(; )+$", "", regex=True).str.replace(r"^(; )+", "", regex=True)
