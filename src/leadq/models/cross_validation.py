"""Cross-validated training for a lead-level table without time, and the plain baseline it is
measured against."""

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from leadq.config import PipelineConfig
from leadq.core.errors import BadInputError
from leadq.features.lead_table import LeadTable
from leadq.features.spec import FeatureSpec
from leadq.models.audit import run_audit
from leadq.models.candidates import build_candidates
from leadq.models.metrics import binary_metrics
from leadq.models.train import (
    ProgressCallback,
    TargetModel,
    TrainResult,
    check_window,
    choose_threshold,
    permutation_importances,
    progress_ticker,
    reference_distributions,
)


def plain_gradient_boosting(spec: FeatureSpec, seed: int):
    """The plain baseline: HistGradientBoosting with default parameters and native categoricals
    (levels ordinal-encoded as they are, no normalising or pooling; unseen levels as missing)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = spec.categorical_columns()
    columns = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                encoded_missing_value=np.nan, max_categories=255), categorical),
         ("num", "passthrough", spec.numeric_columns())],
        remainder="drop",
    )
    model = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))) or None, random_state=seed
    )
    return Pipeline([("features", columns), ("model", model)])


def decision_scores(model, X: pd.DataFrame) -> np.ndarray:
    """Log-odds scores (before calibration) of a fitted candidate pipeline."""
    p = np.clip(model.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _calibrator(method: str):
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if method == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    return LogisticRegression(C=1e6, max_iter=1000)


def cross_calibrate(scores: np.ndarray, y: np.ndarray, folds: list, method: str) -> np.ndarray:
    """Calibrated out-of-fold probabilities: each fold's scores mapped by a calibrator fitted on
    the other folds' out-of-fold scores and labels (no row's label calibrates its own score)."""
    out = np.empty(len(y))
    for _, score_rows in folds:
        others = np.setdiff1d(np.arange(len(y)), score_rows)
        calibrator = _calibrator(method)
        if method == "isotonic":
            calibrator.fit(scores[others], y[others])
            out[score_rows] = calibrator.predict(scores[score_rows])
        else:
            calibrator.fit(scores[others].reshape(-1, 1), y[others])
            out[score_rows] = calibrator.predict_proba(scores[score_rows].reshape(-1, 1))[:, 1]
    return out


def _fold_summary(prefix: str, y: np.ndarray, p: np.ndarray, folds: list) -> dict[str, float]:
    per_fold = [binary_metrics(y[rows], p[rows]) for _, rows in folds]
    out = {}
    for name in ("roc_auc", "pr_auc", "brier", "log_loss"):
        values = np.array([m[name] for m in per_fold], dtype=float)
        out[f"{prefix}{name}_mean"] = float(values.mean())
        out[f"{prefix}{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def train_cross_validated(
    examples: pd.DataFrame,
    spec: FeatureSpec,
    config: PipelineConfig,
    folds: int = 5,
    progress: ProgressCallback | None = None,
    source: str = "",
) -> TrainResult:
    """Cross-validated training for a table without time (one target, `config.targets[0]`).

    `examples` has `lead_id`, the spec's feature columns and `label_<target>`. After the leakage
    audit, rows are split into `folds` stratified folds (seeded by `config.seed`, the same for
    every run on the same table). Each candidate is fitted on k-1 folds and scored on the one
    left out; the lowest mean out-of-fold log loss wins; its out-of-fold scores are calibrated
    across folds (`cross_calibrate`) and measured per fold (`cv_<metric>_mean` / `_std`). The
    plain baseline (`plain_gradient_boosting`) is scored on the same folds
    (`baseline_cv_<metric>_mean` / `_std`). The registered model is the chosen candidate fitted
    on all rows inside `CalibratedClassifierCV` (same folds, `ensemble=False`); its threshold is
    chosen on the calibrated out-of-fold probabilities, and the run's `test_*` metrics are those
    out-of-fold probabilities pooled over every row.
    """
    with threadpool_limits(limits=config.candidates.threads, user_api="openmp"):
        return _train_cross_validated(examples, spec, config, folds, progress, source)


def _train_cross_validated(examples, spec, config, n_folds, progress, source) -> TrainResult:
    target = config.targets[0]
    label = f"label_{target}"
    needed = ["lead_id", *spec.feature_columns(), label]
    missing = [c for c in needed if c not in examples.columns]
    if missing:
        raise BadInputError(f"training table lacks column(s): {', '.join(missing)}")
    rows = examples[examples[label].notna()].reset_index(drop=True)
    y = rows[label].to_numpy(dtype=float)
    check_window(y, "whole", target, config.candidates.min_positives)
    if min(y.sum(), len(y) - y.sum()) < n_folds:
        raise BadInputError(f"{source or 'table'}: too few rows of one class for {n_folds} folds")
    audit = run_audit(rows, spec.numeric_columns(), spec.categorical_columns(), [target],
                      config.audit, config.seed, source=source)
    folds = cv_folds(y, n_folds, config.seed)
    X = rows[spec.feature_columns()]
    candidates = build_candidates(spec, config.candidates, config.seed)
    total = (len(candidates) + 1) * n_folds + n_folds + 2
    tick = progress_ticker(progress, total)

    scores, losses, last_models = {}, {}, {}
    for name, pipeline in candidates.items():
        oof = np.empty(len(y))
        for k, (fit_rows, score_rows) in enumerate(folds):
            tick(f"{target}: {name}, fold {k + 1} of {n_folds}")
            model = clone(pipeline).fit(X.iloc[fit_rows], y[fit_rows])
            oof[score_rows] = decision_scores(model, X.iloc[score_rows])
            last_models[name] = (model, score_rows)
        scores[name] = oof
        losses[name] = float(np.mean([
            log_loss(y[r], 1 / (1 + np.exp(-oof[r])), labels=[0, 1]) for _, r in folds
        ]))
    chosen = min(losses, key=lambda n: (losses[n], n))
    p_oof = cross_calibrate(scores[chosen], y, folds, config.candidates.calibration)
    extra = {"cv_folds": float(n_folds), **_fold_summary("cv_", y, p_oof, folds)}

    baseline = plain_gradient_boosting(spec, config.seed)
    p_base = np.empty(len(y))
    for k, (fit_rows, score_rows) in enumerate(folds):
        tick(f"{target}: plain baseline, fold {k + 1} of {n_folds}")
        model = clone(baseline).fit(X.iloc[fit_rows], y[fit_rows])
        p_base[score_rows] = model.predict_proba(X.iloc[score_rows])[:, 1]
    extra.update(_fold_summary("baseline_cv_", y, p_base, folds))

    tick(f"{target}: fitting the calibrated {chosen} on all rows")
    final = CalibratedClassifierCV(
        clone(candidates[chosen]), method=config.candidates.calibration, cv=folds, ensemble=False
    ).fit(X, y)
    threshold = choose_threshold(y, p_oof, config.candidates.threshold_rule,
                                 config.value_per_conversion, config.cost_per_contact)
    tick(f"{target}: permutation importances")
    fold_model, fold_rows = last_models[chosen]
    importances = permutation_importances(
        fold_model, X.iloc[fold_rows], y[fold_rows], config.candidates.importance_rows, config.seed
    )
    pooled = binary_metrics(y, p_oof)
    model = TargetModel(
        target=target, model=final, chosen=chosen, candidate_log_loss=losses, threshold=threshold,
        validation=pooled, test=pooled, importances=importances,
        y_validation=y, p_validation=p_oof, y_test=y, p_test=p_oof,
    )
    if progress is not None:
        progress("models trained", total, total)
    targets = {target: model}
    return TrainResult(
        targets=targets, spec=spec, split=None, test_examples=rows,
        train_sample=rows.head(5), window_rows={"all": int(len(rows))},
        reference=reference_distributions(targets, spec, rows), audit=audit,
        extra_metrics=extra, evaluation="cross_validation",
    )


def cv_folds(y: np.ndarray, n_folds: int, seed: int) -> list:
    """The fixed seeded stratified folds `train_cross_validated` splits a lead table
    into: (fit rows, scored rows) pairs, the same for every run on the same table and config."""
    return list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
                .split(np.zeros(len(y)), y))


def out_of_fold_probabilities(table: LeadTable, config: PipelineConfig, chosen: str,
                              progress: Callable[[str, int, int], None] | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated out-of-fold probabilities training measured a lead-table model on, rebuilt.

    Candidate `chosen` (the run's `chosen.<target>` param) is refitted on each training fold
    of `cv_folds` (`config.lead_table.cv_folds`, `config.seed`) and scored on the fold left out
    (`decision_scores`), then calibrated across folds with `cross_calibrate`, exactly as `train_cross_validated` does. Same table and config
    give the probabilities behind the run's `test_*` metrics. Returns (p, fold index per row).
    """
    if table.y is None:
        raise BadInputError(f"{table.source}: out-of-fold predictions need the label column")
    candidates = build_candidates(table.spec, config.candidates, config.seed)
    if chosen not in candidates:
        raise BadInputError(f"candidate '{chosen}' the model was trained with is not enabled in the "
                            f"config (enabled: {', '.join(candidates) or 'none'})")
    y = table.y.astype(float)
    n_folds = config.lead_table.cv_folds
    folds = cv_folds(y, n_folds, config.seed)
    X = table.features[table.spec.feature_columns()]
    scores = np.empty(len(y))
    fold_of = np.empty(len(y), dtype=int)
    with threadpool_limits(limits=config.candidates.threads, user_api="openmp"):
        for k, (fit_rows, score_rows) in enumerate(folds):
            if progress is not None:
                progress(f"{table.target}: refitting {chosen}, fold {k + 1} of {n_folds}", k, n_folds)
            model = clone(candidates[chosen]).fit(X.iloc[fit_rows], y[fit_rows])
            scores[score_rows] = decision_scores(model, X.iloc[score_rows])
            fold_of[score_rows] = k
    return cross_calibrate(scores, y, folds, config.candidates.calibration), fold_of
