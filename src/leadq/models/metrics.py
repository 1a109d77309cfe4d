"""Classification metrics for scored leads: ranking, probability quality and top-decile value.

Conventions:
- ECE uses 10 equal-frequency bins: examples sorted by score and cut into 10 groups of
  near-equal size (`numpy.array_split`); ECE = sum over bins of (bin share) * |mean label -
  mean score|.
- Calibration slope and intercept come from an unpenalised logistic regression of the label
  on logit(score) (scores clipped to [1e-6, 1 - 1e-6]); a calibrated model has slope 1 and
  intercept 0, slope < 1 means over-confident scores.
- The top decile is the ceil(10 %) highest-scored examples (ties keep input order).
  `capture_top_decile` is the share of all positives found there (the recall at that depth),
  `precision_top_decile` the positive rate there and `lift_top_decile` that rate over the base
  rate.
"""

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

_EPS = 1e-6

LOWER_IS_BETTER = ("log_loss", "brier", "ece")


def expected_calibration_error(y_true, y_score, n_bins: int = 10) -> float:
    """ECE over `n_bins` equal-frequency bins of the score."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_score, dtype=float)
    order = np.argsort(p, kind="stable")
    total = 0.0
    for idx in np.array_split(order, min(n_bins, len(p))):
        if len(idx):
            total += len(idx) / len(p) * abs(y[idx].mean() - p[idx].mean())
    return float(total)


def calibration_slope_intercept(y_true, y_score, max_iter: int = 100) -> tuple[float, float]:
    """Slope and intercept of an unpenalised logistic regression of y on logit(score).

    Fitted by Newton-Raphson; returns (nan, nan) when the fit does not exist (a single class,
    or perfectly separated labels).
    """
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(y_score, dtype=float), _EPS, 1 - _EPS)
    if y.min() == y.max():
        return math.nan, math.nan
    x = np.log(p / (1 - p))
    design = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(max_iter):
        mu = 1.0 / (1.0 + np.exp(-(design @ beta)))
        w = mu * (1 - mu)
        hessian = design.T @ (design * w[:, None])
        step = np.linalg.lstsq(hessian, design.T @ (y - mu), rcond=None)[0]
        beta += step
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 1e6:
            return math.nan, math.nan
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[1]), float(beta[0])


def top_decile(y_true, y_score, fraction: float = 0.1) -> dict[str, float]:
    """Precision, capture (recall) and lift among the top `fraction` of scores."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_score, dtype=float)
    k = max(1, math.ceil(fraction * len(p)))
    top = np.argsort(-p, kind="stable")[:k]
    positives = y.sum()
    base_rate = positives / len(y)
    precision = y[top].mean()
    return {
        "precision_top_decile": float(precision),
        "capture_top_decile": float(y[top].sum() / positives) if positives else math.nan,
        "lift_top_decile": float(precision / base_rate) if base_rate else math.nan,
    }


def binary_metrics(y_true, y_score, oracle_score=None) -> dict[str, float]:
    """All metrics for one target on one window, as a flat dict of floats.

    Keys: n, positives, base_rate, roc_auc, pr_auc (average precision), brier, log_loss, ece,
    calibration_slope, calibration_intercept, precision/capture/lift_top_decile, and
    oracle_roc_auc when the generator's true probabilities `oracle_score` are given.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_score, dtype=float)
    both = y.min() != y.max()
    slope, intercept = calibration_slope_intercept(y, p)
    out = {
        "n": float(len(y)),
        "positives": float(y.sum()),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        **top_decile(y, p),
    }
    if oracle_score is not None:
        # The oracle is undefined (NaN) for a few rows; it is scored on the rest.
        oracle = np.asarray(oracle_score, dtype=float)
        known = np.isfinite(oracle)
        usable = known.any() and y[known].min() != y[known].max()
        out["oracle_roc_auc"] = float(roc_auc_score(y[known], oracle[known])) if usable else math.nan
    return out


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` (e.g. 'log_loss', 'test_brier_sql') is better."""
    return any(name in metric for name in LOWER_IS_BETTER)
