"""Realized performance: issued scores (or the test window) against the outcomes they predicted,
each metric with a bootstrap interval.

One scored row is (lead, probability `p`, label `y`, `routed`: whether the issued stage passed
the lead on at or beyond the target's stage). Metrics per target over the rows:

- `roc_auc`, `pr_auc` (average precision), `brier`, `ece`, `calibration_slope`: as
  `leadq.models.metrics.binary_metrics` computes them (the point estimates are its values);
- `mean_predicted`, `observed_rate` and calibration in the large twice: `observed_to_predicted`
  (observed conversions over the sum of predicted probabilities; 1 is calibrated, 0.5 means half
  as many conversions as promised) and `calibration_in_the_large` (observed rate minus mean
  predicted probability);
- `precision` and `recall` of the routed stage: among leads routed at or beyond the stage, the
  share that reached it; among leads that reached it, the share routed;
- by decile of `p` (equal-frequency bins, as the ECE): mean predicted and observed rate.

Intervals are percentile intervals over bootstrap resamples of LEADS (a lead's rows are drawn
together: one row per lead for a scoring run, one per test cutoff in the test window). Each
resample is a vector of row weights (how often each row was drawn), and every metric is its
weighted form (`weighted_metrics`), so a resample costs sums over sorted rows, not a refit; the
tests hold the weighted ROC and PR AUC to scikit-learn's with `sample_weight`.
"""

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from leadq.models.metrics import binary_metrics

INTERVAL_METRICS = ("roc_auc", "pr_auc", "brier", "mean_predicted", "observed_rate",
                    "observed_to_predicted", "calibration_in_the_large", "precision", "recall")
POINT_ONLY = ("ece", "calibration_slope")
N_DECILES = 10
MAX_WEIGHT_CELLS = 4_000_000  # resamples x rows held at once


def bootstrap_weights(groups, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row weights of `n_boot` bootstrap resamples of the distinct `groups` (lead ids), in
    blocks of shape (resamples, rows): how many times each row's group was drawn."""
    codes, uniques = pd.factorize(pd.Series(groups).astype(str), sort=False)
    n_groups = len(uniques)
    one_row_each = n_groups == len(codes)  # codes are then 0, 1, 2, ... in row order
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, MAX_WEIGHT_CELLS // max(len(codes), 1)))
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        picks = rng.integers(0, n_groups, size=(size, n_groups), dtype=np.int32)
        picks += (np.arange(size, dtype=np.int32) * n_groups)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n_groups).reshape(size, n_groups)
        yield (counts if one_row_each else counts[:, codes]).astype(float)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def weighted_metrics(y: np.ndarray, p: np.ndarray, routed: np.ndarray, weights: np.ndarray,
                     deciles: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every `INTERVAL_METRICS` metric for each row of `weights` (resamples x rows), and per
    decile (`deciles`: each row's decile, 0-9) the weighted `decile_mean_predicted` and
    `decile_observed_rate` (resamples x deciles).

    ROC AUC counts tied scores half (Mann-Whitney); PR AUC is average precision over distinct
    score thresholds, as scikit-learn defines both. Both come from running weight totals over
    the rows sorted by score, read at the positive rows only (conversions are rare), and the
    sums from one matrix product, so a resample costs about three passes over its weights."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    routed = np.asarray(routed, dtype=bool)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(p, kind="stable")
    if np.any(order != np.arange(len(p))):
        y, p, routed, w = y[order], p[order], routed[order], w[:, order]
        deciles = None if deciles is None else np.asarray(deciles)[order]
    n_rows = len(p)
    first = np.r_[True, np.diff(p) != 0] if n_rows else np.zeros(0, dtype=bool)
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], n_rows]  # exclusive
    cum_w = np.cumsum(w, axis=1)
    positives = np.flatnonzero(y == 1)
    w_pos = w[:, positives]
    cum_pos = np.cumsum(w_pos, axis=1)

    def weight_before(index: np.ndarray) -> np.ndarray:
        return np.where(index > 0, cum_w[:, np.maximum(index - 1, 0)], 0.0)

    def positives_before(index: np.ndarray) -> np.ndarray:
        k = np.searchsorted(positives, index)
        return np.where(k > 0, cum_pos[:, np.maximum(k - 1, 0)], 0.0)

    start, end = starts[group[positives]], ends[group[positives]]  # each positive row's tie group
    pos_below, pos_upto = positives_before(start), positives_before(end)
    neg_below = weight_before(start) - pos_below
    neg_tied = weight_before(end) - weight_before(start) - (pos_upto - pos_below)
    total_w = cum_w[:, -1] if n_rows else np.zeros(len(w))
    total_pos = cum_pos[:, -1] if len(positives) else np.zeros(len(w))
    total_neg = total_w - total_pos
    auc = _ratio((w_pos * (neg_below + 0.5 * neg_tied)).sum(axis=1), total_pos * total_neg)
    precision_at = _ratio(total_pos[:, None] - pos_below, total_w[:, None] - weight_before(start))
    ap = _ratio((w_pos * np.nan_to_num(precision_at)).sum(axis=1), total_pos)

    columns = np.column_stack([np.ones(n_rows), p, y, (p - y) ** 2, routed.astype(float), y * routed])
    sums = w @ columns
    n, predicted, observed, squared, passed, hits = sums.T
    both = (total_pos > 0) & (total_neg > 0)
    out = {
        "roc_auc": np.where(both, auc, np.nan),
        "pr_auc": np.where(both, ap, np.nan),
        "brier": _ratio(squared, n),
        "mean_predicted": _ratio(predicted, n),
        "observed_rate": _ratio(observed, n),
        "observed_to_predicted": _ratio(observed, predicted),
        "calibration_in_the_large": _ratio(observed - predicted, n),
        "precision": _ratio(hits, passed),
        "recall": _ratio(hits, observed),
    }
    if deciles is not None:
        deciles = np.asarray(deciles, dtype=int)
        per_decile = np.zeros((len(w), N_DECILES, 3))
        for k in range(N_DECILES):
            rows = np.flatnonzero(deciles == k)
            if len(rows) and rows[-1] - rows[0] + 1 == len(rows):  # contiguous in score order
                per_decile[:, k] = w[:, rows[0]:rows[-1] + 1] @ columns[rows[0]:rows[-1] + 1, :3]
            elif len(rows):
                per_decile[:, k] = w[:, rows] @ columns[rows, :3]
        out["decile_mean_predicted"] = _ratio(per_decile[:, :, 1], per_decile[:, :, 0])
        out["decile_observed_rate"] = _ratio(per_decile[:, :, 2], per_decile[:, :, 0])
    return out


def decile_of(p: np.ndarray) -> np.ndarray:
    """Each row's decile of `p`: 10 equal-frequency bins of the sorted scores (ties in row order),
    as `leadq.models.metrics.expected_calibration_error` bins them."""
    p = np.asarray(p, dtype=float)
    out = np.empty(len(p), dtype=int)
    for k, rows in enumerate(np.array_split(np.argsort(p, kind="stable"), N_DECILES)):
        out[rows] = k
    return out


def _interval(draws: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column of `draws` (resamples x m), ignoring undefined resamples."""
    tail = 100 * (1 - coverage) / 2
    finite = np.isfinite(draws)
    low = np.full(draws.shape[1], np.nan)
    high = np.full(draws.shape[1], np.nan)
    for j in range(draws.shape[1]):
        if finite[:, j].any():
            low[j], high[j] = np.percentile(draws[finite[:, j], j], [tail, 100 - tail])
    return low, high


def measure(y, p, routed, groups, n_boot: int = 500, seed: int = 0, coverage: float = 0.95
            ) -> tuple[dict[str, float], pd.DataFrame]:
    """Realized metrics of one target over scored rows, with intervals.

    Returns (metrics, deciles): `metrics` maps each `INTERVAL_METRICS` name to its value and its
    `<name>_lo` / `<name>_hi` interval, plus `n`, `positives`, `ece` and `calibration_slope`;
    `deciles` has one row per decile of `p` (`decile`, `n`, `mean_predicted`, `observed_rate`,
    `observed_rate_lo`, `observed_rate_hi`). `groups` are the lead ids resampled together."""
    order = np.argsort(np.asarray(p, dtype=float), kind="stable")
    y = np.asarray(y, dtype=float)[order]
    p = np.asarray(p, dtype=float)[order]
    routed = np.asarray(routed, dtype=bool)[order]
    groups = np.asarray(pd.Series(groups).astype(str))[order]
    deciles = decile_of(p)
    point = weighted_metrics(y, p, routed, np.ones((1, len(y))), deciles)
    reference = binary_metrics(y, p) if len(y) else {}
    metrics: dict[str, float] = {"n": float(len(y)), "positives": float(y.sum())}
    for name in INTERVAL_METRICS:
        # binary_metrics is the one definition of the shared metrics; the weighted forms only
        # resample them
        value = reference.get(name, point[name][0])
        metrics[name] = float(value) if value is not None else math.nan
    for name in POINT_ONLY:
        metrics[name] = float(reference.get(name, math.nan))
    names = [*INTERVAL_METRICS, "decile_mean_predicted", "decile_observed_rate"]
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    if len(y):
        for weights in bootstrap_weights(groups, n_boot, seed):
            resampled = weighted_metrics(y, p, routed, weights, deciles)
            for name in names:
                draws[name].append(resampled[name].reshape(len(weights), -1))
    for name in INTERVAL_METRICS:
        stacked = np.vstack(draws[name]) if draws[name] else np.full((1, 1), np.nan)
        low, high = _interval(stacked, coverage)
        metrics[f"{name}_lo"], metrics[f"{name}_hi"] = float(low[0]), float(high[0])
    observed = (np.vstack(draws["decile_observed_rate"]) if draws["decile_observed_rate"]
                else np.full((1, N_DECILES), np.nan))
    low, high = _interval(observed, coverage)
    counts = np.bincount(deciles, minlength=N_DECILES)
    table = pd.DataFrame({
        "decile": np.arange(1, N_DECILES + 1),
        "n": counts,
        "mean_predicted": point["decile_mean_predicted"][0],
        "observed_rate": point["decile_observed_rate"][0],
        "observed_rate_lo": low,
        "observed_rate_hi": high,
    })
    return metrics, table[table["n"] > 0].reset_index(drop=True)


def routed_at_or_beyond(stages: pd.Series, target: str, funnel: list[str]) -> np.ndarray:
    """Whether each issued `stage` (e.g. `SQL`, `MQL`, `nurture`) passes a lead on at or beyond
    `target`'s stage in `funnel` (targets in funnel order)."""
    rank = {t.upper(): i for i, t in enumerate(funnel)}
    needed = rank[target.upper()]
    return stages.astype(str).str.upper().map(rank).fillna(-1).to_numpy() >= needed


def routed_by_thresholds(frame: pd.DataFrame, target: str, funnel: list[str],
                         thresholds: dict[str, float]) -> np.ndarray:
    """The same routing from probabilities (the test window has no issued stages): a row is
    routed at or beyond `target` when `p_<t>` >= the threshold of `target` or of a later stage."""
    later = funnel[funnel.index(target):]
    routed = np.zeros(len(frame), dtype=bool)
    for t in later:
        if f"p_{t}" in frame and t in thresholds:
            routed |= frame[f"p_{t}"].to_numpy(dtype=float) >= thresholds[t]
    return routed
