"""Scores and reasons in one pass: each lead's probability and its strongest signed feature
contributions, in plain feature names.

Method, by model kind (both exact decompositions of the model's log-odds before calibration,
which is monotone, so a sign read here is the sign on the probability):

- gradient boosting: tree-path attribution (Saabas). Each tree's node gets the mean of its
  leaves weighted by training counts; walking a lead's path, the change in that expected value
  at every split is credited to the split's feature. Per tree, the credit of each leaf is a
  small table computed once. The model's own compiled tree walker runs once per tree with the
  leaf values swapped for leaf numbers: the lead's leaf gives both the tree's output (its leaf
  value, summed in the model's own order, so the score is bit-identical to scikit-learn's) and
  its credits (one gather per used feature). Reasons therefore cost a fraction of the
  prediction instead of a second walk.
- logistic regression: coefficient times the lead's standardised value (relative to the
  training mean), summed over a feature's one-hot or missing-indicator columns.

Contributions of the transformed columns are summed back onto the original feature names.
`score_and_explain` is the scoring entry point of the pyfunc and of `leadq predict`.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from leadq.models.candidates import CategoryNormalizer

N_REASONS = 3
MISSING_TEXT = "missing"


def _unwrap(model):
    """(preprocessing, classifier, sign) of a calibrated or plain scikit-learn pipeline."""
    sign = 1.0
    if hasattr(model, "calibrated_classifiers_"):
        calibrated = model.calibrated_classifiers_[0]
        calibrator = calibrated.calibrators[0]
        if hasattr(calibrator, "a_") and calibrator.a_ > 0:  # p = 1 / (1 + exp(a f + b))
            sign = -1.0
        model = calibrated.estimator
    model = _pipeline_of(model)
    return model[:-1], model[-1], sign


def _pipeline_of(estimator):
    """The pipeline inside a FrozenEstimator (which forwards attribute reads, so duck typing
    on `steps` cannot tell them apart)."""
    while not isinstance(estimator, Pipeline) and hasattr(estimator, "estimator"):
        estimator = estimator.estimator
    return estimator


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


# --- preprocessing -------------------------------------------------------------------------


def _is_identity(transformer) -> bool:
    """Whether a fitted ColumnTransformer block passes its columns through unchanged."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return isinstance(transformer, FunctionTransformer) and transformer.func is None


def _select(X, columns):
    """Columns of a DataFrame or 2-D array by names, positions or a boolean mask."""
    if not isinstance(X, pd.DataFrame):
        return X[:, columns]
    if np.asarray(columns).dtype.kind in "iub":
        return X.iloc[:, columns]
    return X[list(columns)]


def _column_block(transformer, part) -> np.ndarray:
    """One ColumnTransformer block as a 2-D float64 array."""
    if _is_identity(transformer):
        return part.to_numpy(dtype=np.float64) if hasattr(part, "to_numpy") else np.asarray(part, np.float64)
    out = _per_distinct_value(transformer, part)
    if out is None:
        out = transformer.transform(part)
    return out.to_numpy(dtype=np.float64) if hasattr(out, "to_numpy") else np.asarray(out, np.float64)


def _encodes_column_by_column(transformer, part) -> bool:
    """Whether `transformer` maps each column of `part` to one output column, each value on its
    own: an OrdinalEncoder over numbers (NaN the only missing value), or CategoryNormalizer
    (which makes every missing value one level) followed by OrdinalEncoders."""
    steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    if not all(isinstance(step, OrdinalEncoder) for step in steps[1:]):
        return False
    if isinstance(steps[0], CategoryNormalizer):
        return True
    return isinstance(steps[0], OrdinalEncoder) and np.asarray(part).dtype.kind == "f"


def _per_distinct_value(transformer, part) -> np.ndarray | None:
    """`transformer.transform(part)`, computed once per distinct value of each column and
    gathered back to the rows (a CRM column of a million rows holds a few hundred values); None
    when `transformer` is not of a kind that encodes column by column."""
    if part.ndim != 2 or part.shape[0] == 0 or not _encodes_column_by_column(transformer, part):
        return None
    frame = part if isinstance(part, pd.DataFrame) else pd.DataFrame(part)
    codes, distinct = [], []
    for j in range(frame.shape[1]):
        code, values = pd.factorize(frame.iloc[:, j], use_na_sentinel=True)
        values = np.asarray(values, dtype=object)
        if (code < 0).any():  # only a column that has one: an encoder may not know missing values
            # NaN for numbers (an encoder fitted on floats knows no None), None for labels
            missing = None if isinstance(part, pd.DataFrame) and frame.iloc[:, j].dtype.kind != "f" else np.nan
            code = np.where(code < 0, len(values), code)
            values = np.append(values, missing)
        distinct.append(values)
        codes.append(code)
    n_distinct = max(len(values) for values in distinct)
    padded = np.empty((n_distinct, frame.shape[1]), dtype=object)
    for j, values in enumerate(distinct):
        padded[:, j] = values[-1]
        padded[:len(values), j] = values
    if isinstance(part, pd.DataFrame):
        small = pd.DataFrame(padded, columns=part.columns)
    else:
        small = padded.astype(part.dtype)
    encoded = transformer.transform(small)
    encoded = np.asarray(encoded.to_numpy() if hasattr(encoded, "to_numpy") else encoded, dtype=np.float64)
    out = np.empty(part.shape, dtype=np.float64, order="F")
    for j, code in enumerate(codes):
        out[:, j] = encoded[:, j].take(code)
    return out


def _live_blocks(ct: ColumnTransformer):
    """(transformer, columns) of each block of a fitted ColumnTransformer that outputs columns."""
    for _, transformer, columns in ct.transformers_:
        dropped = isinstance(transformer, str) and transformer == "drop"
        empty = len(np.atleast_1d(columns)) == 0 or (np.asarray(columns).dtype.kind == "b"
                                                      and not np.any(columns))
        if not (dropped or empty):
            yield transformer, columns


def _output_columns(ct: ColumnTransformer, n_columns: int) -> list[np.ndarray]:
    """Per output block of a fitted ColumnTransformer: its input column positions, in order."""
    names = list(getattr(ct, "feature_names_in_", []))
    return [np.arange(n_columns)[columns] if np.asarray(columns).dtype.kind in "iub"
            else np.asarray([names.index(c) for c in columns], dtype=int)
            for _, columns in _live_blocks(ct)]


def _fast_column_transform(ct: ColumnTransformer, X) -> np.ndarray | None:
    """`ct.transform(X)` for a dense, fitted ColumnTransformer, written block by block into one
    column-major array; None when `ct` is not of that simple kind."""
    if getattr(ct, "sparse_output_", False) or X.ndim != 2:
        return None
    blocks = []
    for transformer, columns in _live_blocks(ct):
        if isinstance(transformer, str) and transformer != "passthrough":
            return None
        blocks.append(_column_block(transformer, _select(X, columns)))
    if not blocks:
        return None
    out = np.empty((X.shape[0], sum(b.shape[1] for b in blocks)), dtype=np.float64, order="F")
    start = 0
    for block in blocks:
        out[:, start:start + block.shape[1]] = block
        start += block.shape[1]
    return out


def transform_features(pre, X: pd.DataFrame) -> np.ndarray:
    """The preprocessing of a fitted pipeline applied to `X`, as a column-major float64 array
    (column-major lets the tree walker stream the few columns each tree reads)."""
    steps = list(pre.named_steps.values()) if isinstance(pre, Pipeline) else [pre]
    Xt = _fast_column_transform(steps[0], X) if isinstance(steps[0], ColumnTransformer) else None
    if Xt is None:
        Xt = steps[0].transform(X)
    for step in steps[1:]:
        Xt = step.transform(Xt)
    Xt = Xt.to_numpy() if hasattr(Xt, "to_numpy") else Xt
    return np.asfortranarray(Xt, dtype=np.float64)


# --- gradient boosting: one walk for the score and the credits -------------------------------


def _expected_values(nodes) -> np.ndarray:
    """Each node's training-count-weighted mean of its leaves' values."""
    is_leaf = nodes["is_leaf"].astype(bool)
    expected = nodes["value"].astype(float).copy()
    count = nodes["count"].astype(float)
    for i in range(len(nodes) - 1, -1, -1):  # children come after their parent
        if not is_leaf[i]:
            left, right = nodes["left"][i], nodes["right"][i]
            total = count[left] + count[right]
            expected[i] = (count[left] * expected[left] + count[right] * expected[right]) / total
    return expected


def _leaf_credits(nodes, leaves: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(used features, credit table leaves x used features) of one tree (Saabas)."""
    is_leaf = nodes["is_leaf"].astype(bool)
    used = np.unique(nodes["feature_idx"][~is_leaf])
    column = {f: k for k, f in enumerate(used)}
    parent = np.full(len(nodes), -1)
    for i in np.flatnonzero(~is_leaf):
        parent[nodes["left"][i]] = i
        parent[nodes["right"][i]] = i
    table = np.zeros((len(leaves), len(used)))
    for row, leaf in enumerate(leaves):  # a walk up each of at most max_leaf_nodes paths
        child = leaf
        while parent[child] >= 0:
            node = parent[child]
            table[row, column[nodes["feature_idx"][node]]] += expected[child] - expected[node]
            child = node
    return used, table


class BoostedTrees:
    """A fitted binary HistGradientBoostingClassifier prepared for scoring with credits.

    Per tree: a copy of its compiled predictor whose leaves return their leaf number, the
    leaf values, and the Saabas credit of every leaf per used feature. Built once per model
    (`for_classifier` caches it on the classifier)."""

    def __init__(self, clf: HistGradientBoostingClassifier):
        self.preprocessor = getattr(clf, "_preprocessor", None)
        # the trees index the preprocessor's output columns; credits go to the input columns
        inner = (np.concatenate(_output_columns(self.preprocessor, clf.n_features_in_))
                 if self.preprocessor is not None else np.arange(clf.n_features_in_))
        self.baseline = np.asarray(clf._baseline_prediction, dtype=np.float64).ravel()[0]
        self.known_bitsets, self.f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
        self.walkers, self.leaf_values = [], []
        credits: dict[int, list[tuple[int, np.ndarray]]] = {}
        for t, (predictor,) in enumerate(clf._predictors):
            nodes = predictor.nodes
            leaves = np.flatnonzero(nodes["is_leaf"].astype(bool))
            numbered = nodes.copy()
            numbered["value"][leaves] = np.arange(len(leaves), dtype=float)
            self.walkers.append(TreePredictor(numbered, predictor.binned_left_cat_bitsets,
                                              predictor.raw_left_cat_bitsets))
            self.leaf_values.append(nodes["value"][leaves].astype(np.float64))
            used, table = _leaf_credits(nodes, leaves, _expected_values(nodes))
            for k, feature in enumerate(used):
                column = int(inner[feature])
                credits.setdefault(column, []).append((t, np.ascontiguousarray(table[:, k])))
        self.credits = credits  # input column -> [(tree, credit per leaf)], trees in order
        max_leaves = max((len(v) for v in self.leaf_values), default=1)
        self.leaf_dtype = np.uint8 if max_leaves <= 256 else np.uint32

    @classmethod
    def for_classifier(cls, clf: HistGradientBoostingClassifier) -> "BoostedTrees":
        """The prepared trees of `clf`, built on first use and kept on the classifier."""
        cached = getattr(clf, "_leadq_boosted_trees", None)
        if cached is None:
            cached = cls(clf)
            clf._leadq_boosted_trees = cached
        return cached

    def encode(self, Xt: np.ndarray) -> np.ndarray:
        """The classifier's own input encoding (its category re-coding), column-major, as its
        `_preprocess_X` does before the trees."""
        if self.preprocessor is None:
            return Xt
        encoded = _fast_column_transform(self.preprocessor, Xt)
        return encoded if encoded is not None else np.asfortranarray(self.preprocessor.transform(Xt))

    def leaves(self, Xt: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """The leaf number of every row in every tree, shape (trees, rows).

        With more than one thread the trees are split into contiguous ranges walked by Python
        threads (the compiled walker releases the GIL), each single-threaded: no OpenMP team
        per tree, so no spinning between 200 short parallel regions."""
        Xt = self.encode(Xt)
        out = np.empty((len(self.walkers), Xt.shape[0]), dtype=self.leaf_dtype)

        def walk(trees: range) -> None:
            for t in trees:
                out[t] = self.walkers[t].predict(Xt, self.known_bitsets, self.f_idx_map, 1)

        _in_threads(walk, _split(len(self.walkers), _threads_for(Xt.shape[0], n_threads)))
        return out

    def raw(self, leaves: np.ndarray) -> np.ndarray:
        """Log-odds: baseline plus each tree's leaf value, added in the model's order (so equal
        bit for bit to `decision_function`)."""
        raw = np.zeros(leaves.shape[1])
        raw += self.baseline
        for values, leaf in zip(self.leaf_values, leaves):
            raw += values.take(leaf)
        return raw

    def credits_per_column(self, leaves: np.ndarray, n_columns: int,
                           n_threads: int | None = None) -> np.ndarray:
        """Saabas credit per transformed column for every row, column-major (rows x columns);
        each column sums its trees' credits in tree order."""
        out = np.zeros((leaves.shape[1], n_columns), order="F")
        features = list(self.credits)

        def gather(part: range) -> None:
            buffer = np.empty(leaves.shape[1])
            for feature in (features[i] for i in part):
                column = out[:, feature]
                for tree, credit in self.credits[feature]:
                    np.take(credit, leaves[tree], out=buffer)
                    column += buffer

        _in_threads(gather, _split(len(features), _threads_for(leaves.shape[1], n_threads)))
        return out


MIN_ROWS_PER_THREAD = 20_000


def _threads_for(n_rows: int, n_threads: int | None) -> int:
    """Threads worth using for `n_rows` rows: scikit-learn's OpenMP setting (so
    OMP_NUM_THREADS caps it), one for small inputs."""
    wanted = _openmp_effective_n_threads(n_threads)
    return max(1, min(wanted, n_rows // MIN_ROWS_PER_THREAD))


def _split(n_items: int, n_parts: int) -> list[range]:
    """`range(n_items)` cut into `n_parts` contiguous, nearly equal ranges."""
    bounds = np.linspace(0, n_items, n_parts + 1).astype(int)
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _in_threads(work, parts: list[range]) -> None:
    """`work(part)` for every part, in threads when there is more than one part."""
    if len(parts) <= 1:
        for part in parts:
            work(part)
        return
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        for done in [pool.submit(work, part) for part in parts]:
            done.result()


# --- one pass: probability and contributions ---------------------------------------------


def _calibrated_single(model):
    """The one calibrated classifier of a binary CalibratedClassifierCV fitted on a frozen or
    prefit pipeline, or None for anything else."""
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or len(calibrated[0].calibrators) != 1:
        return None
    if len(getattr(model, "classes_", [])) != 2:
        return None
    return calibrated[0] if isinstance(_pipeline_of(calibrated[0].estimator), Pipeline) else None


def _decision_and_credits(clf, Xt: np.ndarray, explain: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-odds of the fitted classifier on preprocessed rows, and per-column credits."""
    if isinstance(clf, HistGradientBoostingClassifier) and clf.n_trees_per_iteration_ == 1:
        trees = BoostedTrees.for_classifier(clf)
        leaves = trees.leaves(Xt)
        return trees.raw(leaves), (trees.credits_per_column(leaves, Xt.shape[1]) if explain else None)
    Xt = np.ascontiguousarray(Xt)
    if isinstance(clf, LogisticRegression) and clf.coef_.shape[0] == 1:
        # each row's own sum (not BLAS, whose blocking makes a row's last bits depend on its
        # batch), so a score never depends on the chunk it was scored in
        terms = Xt * clf.coef_[0]
        return terms.sum(axis=1) + clf.intercept_[0], (terms if explain else None)
    if explain:  # pragma: no cover - the candidates are the two above
        raise TypeError(f"no reasons for {type(clf).__name__}")
    return clf.decision_function(Xt), None


def _combine(per_column: np.ndarray, origin: np.ndarray, n_features: int) -> np.ndarray:
    """Transformed-column credits summed onto their original features, column by column."""
    combined = np.zeros((per_column.shape[0], n_features), order="F")
    for j in range(per_column.shape[1]):
        combined[:, origin[j]] += per_column[:, j]
    return combined


def score_and_explain(model, X: pd.DataFrame, columns: list[str] | None = None,
                      explain: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """P(class 1) of a fitted (calibrated) pipeline for each row of `X`, equal to
    `model.predict_proba(X)[:, 1]` (bit for bit for gradient boosting, to the last bits for the
    logistic model) and independent of the other rows in `X`, and with `explain` the signed log-odds contribution of each
    of `columns` (rows x columns), from the same pass over the trees.

    `X` holds the model's input columns (`columns`, prepared as the pyfunc prepares them)."""
    columns = list(X.columns) if columns is None else columns
    single = _calibrated_single(model)
    if single is None:  # an uncalibrated or unusual model: scikit-learn's own path
        p = model.predict_proba(X)[:, 1]
        return p, (feature_contributions(model, X, columns).to_numpy() if explain else None)
    pre, clf, sign = _unwrap(model)
    Xt = transform_features(pre, X)
    decision, per_column = _decision_and_credits(clf, Xt, explain)
    p = single.calibrators[0].predict(decision)  # CalibratedClassifierCV's mean of one
    if not explain:
        return p, None
    origin = _origins(pre.get_feature_names_out(), columns)
    return p, sign * _combine(per_column, origin, len(columns))


def feature_contributions(model, features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Signed log-odds contributions of each original feature for each row of `features`."""
    pre, clf, sign = _unwrap(model)
    X = features[columns]
    Xt = transform_features(pre, X)
    _, per_column = _decision_and_credits(clf, Xt, explain=True)
    origin = _origins(pre.get_feature_names_out(), columns)
    combined = sign * _combine(per_column, origin, len(columns))
    return pd.DataFrame(combined, columns=columns, index=features.index)


# --- reason text ---------------------------------------------------------------------------


def _format_values(values: pd.Series) -> pa.Array:
    """Feature values as reason text: numbers rounded to 2 decimals (integers without a point,
    others as `%g` formats them), other values as text, missing as `missing`."""
    numeric = pd.to_numeric(values, errors="coerce")
    text_dtype = values.dtype == object or isinstance(values.dtype, (pd.CategoricalDtype, pd.StringDtype))
    if numeric.notna().sum() == values.notna().sum() and not text_dtype:
        return _number_texts(numeric.round(2).to_numpy(dtype=np.float64, na_value=np.nan))
    return pa.array(values.astype(object).where(values.notna(), MISSING_TEXT).astype(str), type=pa.string())


def _number_texts(rounded: np.ndarray) -> pa.Array:
    """Numbers already rounded as reason text, formatted column at a time by Arrow where its
    text is provably `%g`'s: integers below 2**53 and numbers under 10**4 (at most six
    significant digits once rounded to two decimals); the rest one by one in Python."""
    rounded = rounded + 0.0  # -0.0 reads as 0
    missing = np.isnan(rounded)
    whole = ~missing & (np.abs(rounded) < 2.0**53) & (rounded == np.trunc(rounded))
    texts = pc.cast(pa.array(rounded), pa.string())
    texts = pc.if_else(pa.array(whole), pc.cast(pa.array(np.where(whole, rounded, 0).astype(np.int64)), pa.string()),
                       texts)
    slow = np.flatnonzero(~missing & ~whole & (np.abs(rounded) >= 1e4))
    if len(slow):
        text_list = texts.to_numpy(zero_copy_only=False).astype(object)
        text_list[slow] = [f"{int(v)}" if v.is_integer() else f"{v:g}" for v in rounded[slow].tolist()]
        texts = pa.array(text_list, type=pa.string())
    return pc.if_else(pa.array(missing), MISSING_TEXT, texts)


def _value_texts(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """(code per row, text per code) of `values`: each distinct value formatted once; the last
    code is `missing`."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        values = pd.Series(np.round(values.to_numpy(dtype=np.float64, na_value=np.nan), 2))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = pa.concat_arrays([_format_values(pd.Series(uniques, dtype=values.dtype)),
                              pa.array([MISSING_TEXT], type=pa.string())])
    return np.where(codes < 0, len(texts) - 1, codes), texts


def _top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest absolute values per row, largest first; ties go to the
    lower column (as a stable sort would)."""
    magnitude = np.abs(values)
    rows = np.arange(len(values))
    top = np.empty((len(values), k), dtype=np.intp)
    for slot in range(k):
        top[:, slot] = magnitude.argmax(axis=1)
        magnitude[rows, top[:, slot]] = -1.0
    return top


def _labels(features: pd.DataFrame, names, used: np.ndarray) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """The reason labels of features `used` (positions in `names`), each distinct
    `name=value (sign)` written once: (value code per row and feature, where each feature's
    labels start, the labels). A feature's labels are its value texts with ` (-)`, then
    with ` (+)`; the last label is empty (no reason)."""
    value_codes = np.zeros((len(features), len(names)), dtype=np.int64, order="F")
    starts = np.zeros((2, len(names)), dtype=np.int64)  # rows: where " (-)" and " (+)" labels start
    labels: list[pa.Array] = []
    offset = 0
    for j in used:
        value_codes[:, j], texts = _value_texts(features[names[j]])
        prefix = pa.scalar(f"{names[j]}=")
        for sign, text in enumerate((" (-)", " (+)")):
            starts[sign, j] = offset
            labels.append(pc.binary_join_element_wise(prefix, texts, pa.scalar(text), ""))
            offset += len(texts)
    labels.append(pa.array([""], type=pa.string()))
    return value_codes, starts, pa.concat_arrays(labels)


def reason_texts(values: np.ndarray, names, features: pd.DataFrame, n: int = N_REASONS) -> pa.Array:
    """The `n` largest absolute contributions per row as text, `pricing_view_30d=4 (+); ...`,
    for a rows x features array `values` whose columns are `names` (columns of `features`)."""
    k = min(n, values.shape[1]) if values.ndim == 2 else 0
    if k == 0 or len(values) == 0:
        return pa.array([""] * len(values), type=pa.string())
    values = np.ascontiguousarray(values, dtype=np.float64)
    top = _top_indices(values, k)
    picked = np.take_along_axis(values, top, axis=1)
    value_codes, starts, labels = _labels(features, names, np.unique(top))
    rows = np.arange(len(values))
    slots = []
    for slot in range(k):
        feature = top[:, slot]
        codes = starts[(picked[:, slot] > 0).astype(np.intp), feature] + value_codes[rows, feature]
        codes[picked[:, slot] == 0] = len(labels) - 1  # a zero contribution is no reason
        slots.append(pc.take(labels, pa.array(codes)))
    # empty slots can only trail (contributions are sorted by size): drop their separators
    return pc.replace_substring_regex(pc.binary_join_element_wise(*slots, "; "), "(; )+$", "")


def top_reasons(contributions: pd.DataFrame, features: pd.DataFrame, n: int = N_REASONS) -> pd.Series:
    """The `n` largest absolute contributions per row as text: `pricing_view_30d=4 (+); ...`."""
    texts = reason_texts(contributions.to_numpy(dtype=np.float64), list(contributions.columns),
                         features, n)
    return pd.Series(texts.to_pandas().array, index=contributions.index)  # Arrow-backed text, not copied
