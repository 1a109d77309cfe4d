"""Candidate models: scikit-learn pipelines (preprocessing + classifier) built from the config.

Every candidate takes the lead-level feature table (numeric columns as floats, categorical
attribute columns as strings or None) and tolerates missing values and unseen categories.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from leadq.config import CandidatesConfig
from leadq.features.spec import FeatureSpec

MISSING_LEVEL = "__missing__"


class CategoryNormalizer(TransformerMixin, BaseEstimator):
    """Lower-cases and trims category labels and maps missing ones to one explicit level.

    "  Google Ads" and "google ads" are the same source; None, NaN and "" all become
    `MISSING_LEVEL`, so encoders see a plain string column.
    """

    def fit(self, X, y=None):
        """Nothing to learn; records the input width."""
        self.n_features_in_ = np.asarray(X).shape[1] if np.ndim(X) == 2 else 1
        return self

    def transform(self, X):
        """Normalised labels as an object array of the same shape.

        Each column is factorised first and only its distinct labels are normalised, so the
        cost per row is one integer gather whatever the text looks like."""
        frame = pd.DataFrame(X)
        out = np.empty(frame.shape, dtype=object)
        for j in range(frame.shape[1]):
            codes, labels = pd.factorize(frame.iloc[:, j], use_na_sentinel=True)
            normalised = np.append(normalise_labels(np.asarray(labels, dtype=object)), MISSING_LEVEL)
            out[:, j] = normalised[codes]  # code -1 (missing) picks the appended level
        return out

    def get_feature_names_out(self, input_features=None):
        """Same names as the input."""
        return np.asarray(input_features, dtype=object)


class FillEmptyColumns(TransformerMixin, BaseEstimator):
    """Fills with 0 the columns that had no value at all when fitted (a feature never observed
    in the training rows), so that estimators which cannot take an all-missing column (gradient
    boosting's binning) still fit; the model then ignores those columns, as it saw nothing in
    them. Other columns pass through untouched."""

    def fit(self, X, y=None):
        """Records which columns are all missing."""
        X = np.asarray(X, dtype=np.float64)
        self.empty_ = np.isnan(X).all(axis=0) if len(X) else np.zeros(X.shape[1], dtype=bool)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """`X` with the recorded columns set to 0 (`X` itself when there are none)."""
        if not self.empty_.any():
            return X
        X = np.array(X, dtype=np.float64, copy=True)
        X[:, self.empty_] = 0.0
        return X

    def get_feature_names_out(self, input_features=None):
        """Same names as the input."""
        return np.asarray(input_features, dtype=object)


def normalise_labels(labels: np.ndarray) -> np.ndarray:
    """Distinct non-missing labels lower-cased, trimmed, inner whitespace collapsed; "" and
    whitespace-only labels become `MISSING_LEVEL`."""
    text = pd.Series(labels, dtype=object).astype(str)
    text = text.str.replace(r"\s+", " ", regex=True).str.strip().str.lower()
    return text.where(text != "", MISSING_LEVEL).to_numpy(dtype=object)


def signed_log1p(x):
    """sign(x) * log(1 + |x|): tames heavy-tailed counts and durations for the linear model."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


def logistic_pipeline(spec: FeatureSpec, config: CandidatesConfig) -> Pipeline:
    """Median imputation with missing indicators, signed log, scaling, one-hot with rare levels
    pooled, then an L2-regularised logistic regression."""
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
        ("scale", StandardScaler()),
    ])
    categorical = Pipeline([
        ("normalise", CategoryNormalizer()),
        ("onehot", OneHotEncoder(
            min_frequency=config.min_category_frequency,
            max_categories=config.max_categories,
            handle_unknown="infrequent_if_exist",
            sparse_output=False,
        )),
    ])
    columns = ColumnTransformer(
        [("num", numeric, spec.numeric_columns()), ("cat", categorical, spec.categorical_columns())],
        remainder="drop",
    )
    model = LogisticRegression(C=config.logistic.C, max_iter=config.logistic.max_iter)
    return Pipeline([("features", columns), ("model", model)])


def gradient_boosting_pipeline(spec: FeatureSpec, config: CandidatesConfig, seed: int) -> Pipeline:
    """Native categorical gradient boosting: categories ordinal-encoded (rare pooled, unseen as
    missing) and numeric columns passed through, since the trees handle missing values
    natively (a missing value gets its own learned branch, which beats median imputation);
    columns never observed in the training rows are filled (`FillEmptyColumns`)."""
    categorical_columns = spec.categorical_columns()
    categorical = Pipeline([
        ("normalise", CategoryNormalizer()),
        ("ordinal", OrdinalEncoder(
            min_frequency=config.min_category_frequency,
            max_categories=config.max_categories,
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )),
    ])
    # Categoricals go first so their output positions are known before fitting.
    columns = ColumnTransformer(
        [("cat", categorical, categorical_columns), ("num", "passthrough", spec.numeric_columns())],
        remainder="drop",
    )
    params = config.hist_gradient_boosting
    directions = monotone_directions(spec) if params.monotone else {}
    monotone = [0] * len(categorical_columns) + [directions.get(c, 0) for c in spec.numeric_columns()]
    model = HistGradientBoostingClassifier(
        monotonic_cst=monotone if any(monotone) else None,
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        max_features=params.max_features,
        categorical_features=list(range(len(categorical_columns))) or None,
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("features", columns), ("fill_empty", FillEmptyColumns()), ("model", model)])


NEGATIVE_TYPES = ("unsubscribe", "careers_view")
UNSIGNED_TYPES = ("page_view", "other")  # bots and casual readers: no obvious sign


def monotone_directions(spec: FeatureSpec) -> dict[str, int]:
    """The sign a feature's effect obviously has (+1 up, -1 down); features not listed are free.

    More buying behaviour (counts of engagement types, time on site, sessions, active days,
    returns, the journey, a rising trend, breadth) never lowers a score, and longer since the
    last such event never raises it; unsubscribes and careers-page views never raise it.
    Page views and unlisted types stay free: bots and casual readers make their sign unclear.
    """
    directions: dict[str, int] = {}
    windows = spec.window_labels()
    for event_type in spec.event_types:
        if event_type in UNSIGNED_TYPES:
            continue
        sign = -1 if event_type in NEGATIVE_TYPES else 1
        for w in windows:
            directions[f"{event_type}_{w}"] = sign
    for w in windows:
        directions[f"events_{w}"] = 1
    for name in ("time_on_site_s_sum", "time_on_site_s_mean", "active_days_all", "active_days_30d",
                 "sessions_all", "sessions_30d", "distinct_content_all", "distinct_pages_all",
                 f"{spec.return_event_type}_returns_all", f"{spec.return_event_type}_returns_30d",
                 "journey_stage", spec.trend_column()):
        directions[name] = 1
    directions.update({f"time_on_{t}_s_sum": 1 for t in spec.duration_types})
    directions["days_since_last_event"] = -1
    for t in spec.recency_types:
        if t in NEGATIVE_TYPES or t in UNSIGNED_TYPES:
            continue
        directions[f"days_since_last_{t}"] = -1
        directions[f"no_{t}"] = -1
    present = set(spec.numeric_columns())
    return {name: sign for name, sign in directions.items() if name in present}


def build_candidates(spec: FeatureSpec, config: CandidatesConfig, seed: int) -> dict[str, Pipeline]:
    """The enabled candidates by name ('logistic', 'hist_gradient_boosting'), unfitted."""
    out: dict[str, Pipeline] = {}
    if config.logistic.enabled:
        out["logistic"] = logistic_pipeline(spec, config)
    if config.hist_gradient_boosting.enabled:
        out["hist_gradient_boosting"] = gradient_boosting_pipeline(spec, config, seed)
    return out
