"""Learned scores against the rule scorecard, on the window the model was judged on.

The comparison itself: pure functions over scored examples. The `leadq compare` step
(`leadq.steps.compare.compare_to_dir`) rebuilds the model's validation and test
snapshot examples from the config logged with the model's run (same cutoffs, same seeded
`leads_per_cutoff` sample, same time split; `--config` replaces that config), scores them with
the model (its logged pipelines, as in training) and with the rule scorecard (points as of each
example's cutoff), and puts, per target, on the TEST window:

- `rules @ own threshold`: the scorecard's MQL threshold for `mql`, its SQL threshold for `sql`
  (and for any later stage);
- `model @ same capacity`: the model passing as many leads as the rules did, counted over the
  whole test window (the overall top k by probability, ties in row order), not per cutoff;
- `model @ tuned threshold` and `rules @ tuned threshold`: the threshold maximising expected
  value = value_per_conversion x true positives - cost_per_contact x leads passed, chosen on the
  VALIDATION window only (`leadq.models.train.choose_threshold`); test labels are never read for it;
- `learned scorecard @ its threshold`: integer points fitted on the training window
  (`leadq.rules.learned`) unless a learned scorecard file is given;
- the difference model @ same capacity minus rules @ own threshold, for every metric.

Metrics per row: leads passed, precision, recall (share of the test window's conversions
passed), lift (precision over the base rate) and expected value. Intervals are 95 % percentile
intervals from 1,000 bootstrap resamples of LEADS: a lead's snapshot rows (one per test cutoff)
are drawn together, the operating points (thresholds and the same-capacity selection) are held
fixed, and the difference row is paired (the same resample for both).

Lead-level tables (a config with a `lead_table` section and no timestamp column: a CRM export,
one row per lead, see `leadq.features.lead_table`) have no cutoffs and no windows. Training measured the
model on out-of-fold predictions over fixed seeded stratified folds, so the comparison does the
same: the run's chosen candidate is refitted on each fold's other folds and the calibrated
out-of-fold probabilities rebuilt (`leadq.models.cross_validation.out_of_fold_probabilities`; the pooled
ROC AUC is checked against the run's logged `test_roc_auc_<target>`), rule points come from
`leadq.rules.lead_table.score_lead_table_rules`, and every metric is measured over ALL leads, each
scored by a model that did not see its label. Differences:

- tuned thresholds are cross-fitted: for each fold, the expected-value threshold (model and
  rules alike) is chosen on the OTHER folds' out-of-fold scores and labels and applied to that
  fold's leads, so no lead's label chooses the threshold it is judged at (those other folds'
  scores come from fold models that were fitted on rows including this fold, which is
  inherent to k-fold; its labels still never pick the cut). The table shows the median of the
  per-fold thresholds; all of them are in `tuned_thresholds.json`;
- `rules @ own threshold` is the scorecard's threshold for the single target (SQL unless the
  target is called `mql`), and `model @ same capacity` is the top k of the pooled out-of-fold
  probabilities, k being the number of leads the rules pass;
- the learned scorecard needs snapshot windows and events, so its row is left out (with a
  warning line) unless `learned_path` gives a scorecard over the table's columns, which is
  then scored like the rules;
- one row per lead, so the bootstrap resamples rows.

Output: `report.html` (self-contained), the PNG plots, `comparison.csv` and the learned
scorecard YAML, written to a temporary folder, logged to a new MLflow run in the config's
experiment, then moved into the output folder.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.core.html import METRICS
from leadq.models.train import choose_threshold
from leadq.rules.scorecard import Thresholds

RULES_OWN = "rules @ own threshold"
MODEL_CAPACITY = "model @ same capacity"
MODEL_TUNED = "model @ tuned threshold"
RULES_TUNED = "rules @ tuned threshold"
LEARNED = "learned scorecard @ its threshold"
DIFFERENCE = "model @ same capacity - rules @ own threshold"
METHODS = (RULES_OWN, MODEL_CAPACITY, MODEL_TUNED, RULES_TUNED, LEARNED)
METHOD_KEYS = {
    RULES_OWN: "rules_own", MODEL_CAPACITY: "model_same_capacity", MODEL_TUNED: "model_tuned",
    RULES_TUNED: "rules_tuned", LEARNED: "learned", DIFFERENCE: "diff_same_capacity",
}
N_BOOT = 1000
CHUNK = 100


def bootstrap_sums(lead_ids, columns: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Column sums over all rows, and over `n_boot` bootstrap resamples of leads.

    `columns` is (rows x m); rows of the same lead id are resampled together. Returns
    (point sums of shape (m,), resampled sums of shape (n_boot, m)). Vectorised: per-lead
    sums times a (resamples x leads) count matrix, built `CHUNK` resamples at a time.
    """
    codes, uniques = pd.factorize(pd.Series(lead_ids).astype(str), sort=False)
    n_leads = len(uniques)
    columns = np.asarray(columns, dtype=float)
    per_lead = np.zeros((n_leads, columns.shape[1]))
    np.add.at(per_lead, codes, columns)
    point = per_lead.sum(axis=0)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, columns.shape[1]))
    for start in range(0, n_boot, CHUNK):
        size = min(CHUNK, n_boot - start)
        picks = rng.integers(0, n_leads, size=(size, n_leads))
        flat = picks + (np.arange(size) * n_leads)[:, None]
        counts = np.bincount(flat.ravel(), minlength=size * n_leads).reshape(size, n_leads)
        draws[start:start + size] = counts @ per_lead
    return point, draws


def selection_metrics(n, positives, passed, true_positives, value_per_conversion: float,
                      cost_per_contact: float) -> dict[str, np.ndarray]:
    """Leads passed, precision, recall, lift and expected value from (weighted) counts;
    works elementwise on arrays (one entry per bootstrap resample)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n, positives = np.asarray(n, dtype=float), np.asarray(positives, dtype=float)
        passed, tp = np.asarray(passed, dtype=float), np.asarray(true_positives, dtype=float)
        precision = np.where(passed > 0, tp / passed, np.nan)
        recall = np.where(positives > 0, tp / positives, np.nan)
        base_rate = np.where(n > 0, positives / n, np.nan)
        lift = np.where(base_rate > 0, precision / base_rate, np.nan)
    return {
        "leads_passed": passed,
        "precision": precision,
        "recall": recall,
        "lift": lift,
        "expected_value": value_per_conversion * tp - cost_per_contact * passed,
    }


def _interval(draws: np.ndarray) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if len(finite) == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def own_threshold(thresholds: Thresholds, target: str) -> float:
    """The scorecard's threshold for a target: MQL for `mql`, SQL for `sql` and later stages."""
    return float(thresholds.mql if target == "mql" else thresholds.sql)


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """True for the k highest scores (ties broken by row order)."""
    mask = np.zeros(len(scores), dtype=bool)
    if k > 0:
        mask[np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]] = True
    return mask


@dataclass
class Comparison:
    """The comparison table and the operating points behind it."""

    table: pd.DataFrame
    tuned_thresholds: dict[str, dict[str, float]]
    capacity: dict[str, int]
    summary: dict[str, dict[str, float]]
    selections: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def tune_thresholds(validation: pd.DataFrame, target: str, value_per_conversion: float,
                    cost_per_contact: float) -> dict[str, float]:
    """Expected-value thresholds for the model (`p_<target>`) and the rules (`rules_points`),
    from validation rows only."""

    label = f"label_{target}"
    rows = validation[validation[label].notna()]
    y = rows[label].to_numpy(dtype=float)
    return {
        "model": choose_threshold(y, rows[f"p_{target}"].to_numpy(dtype=float), "expected_value",
                                  value_per_conversion, cost_per_contact),
        "rules": choose_threshold(y, rows["rules_points"].to_numpy(dtype=float), "expected_value",
                                  value_per_conversion, cost_per_contact),
    }


def cross_fold_selections(rows: pd.DataFrame, target: str, value_per_conversion: float,
                          cost_per_contact: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cross-fitted expected-value thresholds over out-of-fold rows (column `fold`): each fold's
    leads are passed at the thresholds `tune_thresholds` picks on the OTHER folds' rows, so no
    row's label chooses its own threshold. Returns (model mask, rules mask, thresholds): the
    median per-fold threshold under `model` / `rules`, and each fold's under `*_by_fold`."""
    folds = rows["fold"].to_numpy()
    p = rows[f"p_{target}"].to_numpy(dtype=float)
    points = rows["rules_points"].to_numpy(dtype=float)
    model_pass = np.zeros(len(rows), dtype=bool)
    rules_pass = np.zeros(len(rows), dtype=bool)
    by_fold = {"model": [], "rules": []}
    for fold in sorted(pd.unique(folds)):
        here = folds == fold
        chosen = tune_thresholds(rows[~here], target, value_per_conversion, cost_per_contact)
        model_pass[here] = p[here] >= chosen["model"]
        rules_pass[here] = points[here] >= chosen["rules"]
        by_fold["model"].append(float(chosen["model"]))
        by_fold["rules"].append(float(chosen["rules"]))
    thresholds = {
        "model": float(np.median(by_fold["model"])),
        "rules": float(np.median(by_fold["rules"])),
        "model_by_fold": by_fold["model"],
        "rules_by_fold": by_fold["rules"],
    }
    return model_pass, rules_pass, thresholds


def compare_scored(
    scored: pd.DataFrame,
    targets: list[str],
    rules_thresholds: Thresholds,
    learned_thresholds: Thresholds | None,
    value_per_conversion: float,
    cost_per_contact: float,
    n_boot: int = N_BOOT,
    seed: int = 0,
    tuning: str = "validation",
) -> Comparison:
    """The comparison table from scored examples.

    `scored` has `lead_id`, `window` ('validation' or 'test'), `label_<target>`, `p_<target>`,
    `rules_points` and `learned_points`. Thresholds are tuned on the validation rows; every
    metric is measured on the test rows (rows with a label for the target).

    With `tuning="cross_fold"` (lead-level tables) every row is a 'test' row and `scored` has a
    `fold` column: the tuned thresholds of each fold are chosen on the other folds' rows only
    (`cross_fold_selections`). Without `learned_thresholds` or a `learned_points` column the
    learned-scorecard row is left out.
    """
    if tuning not in ("validation", "cross_fold"):
        raise BadInputError(f"unknown threshold tuning '{tuning}'")
    frames, tuned, capacity, summary, selections = [], {}, {}, {}, {}
    for target in targets:
        label = f"label_{target}"
        validation = scored[scored["window"] == "validation"]
        test = scored[(scored["window"] == "test") & scored[label].notna()].reset_index(drop=True)
        if tuning == "cross_fold":
            if test.empty or test["fold"].nunique() < 2:
                raise BadInputError(f"no out-of-fold examples in two folds or more for target '{target}'")
        elif test.empty or validation[label].notna().sum() == 0:
            raise BadInputError(f"no validation or test examples for target '{target}'")
        y = test[label].to_numpy(dtype=float)
        p = test[f"p_{target}"].to_numpy(dtype=float)
        points = test["rules_points"].to_numpy(dtype=float)
        if tuning == "cross_fold":
            model_tuned, rules_tuned, thresholds = cross_fold_selections(
                test, target, value_per_conversion, cost_per_contact)
        else:
            thresholds = tune_thresholds(validation, target, value_per_conversion, cost_per_contact)
            model_tuned, rules_tuned = p >= thresholds["model"], points >= thresholds["rules"]
        tuned[target] = thresholds
        rules_threshold = own_threshold(rules_thresholds, target)
        rules_pass = points >= rules_threshold
        k = int(rules_pass.sum())
        capacity[target] = k
        model_pass = top_k_mask(p, k)
        model_capacity_threshold = float(p[model_pass].min()) if k else math.nan
        chosen = {
            RULES_OWN: (rules_pass, rules_threshold),
            MODEL_CAPACITY: (model_pass, model_capacity_threshold),
            MODEL_TUNED: (model_tuned, thresholds["model"]),
            RULES_TUNED: (rules_tuned, thresholds["rules"]),
        }
        if learned_thresholds is not None and "learned_points" in test.columns:
            learned = test["learned_points"].to_numpy(dtype=float)
            chosen[LEARNED] = (learned >= own_threshold(learned_thresholds, target),
                               own_threshold(learned_thresholds, target))
        selections[target] = {m: mask for m, (mask, _) in chosen.items()}
        columns = [np.ones(len(y)), y]
        for mask, _ in chosen.values():
            columns += [mask.astype(float), mask * y]
        point, draws = bootstrap_sums(test["lead_id"], np.column_stack(columns), n_boot, seed)

        def metrics_of(sums: np.ndarray, j: int) -> dict[str, np.ndarray]:
            return selection_metrics(sums[..., 0], sums[..., 1], sums[..., 2 + 2 * j],
                                     sums[..., 3 + 2 * j], value_per_conversion, cost_per_contact)

        rows = []
        per_method = {}
        for j, (method, (_, threshold)) in enumerate(chosen.items()):
            est, boot = metrics_of(point, j), metrics_of(draws, j)
            per_method[method] = (est, boot)
            rows.append(_row(target, method, "selection", threshold, est, boot))
        (est_m, boot_m), (est_r, boot_r) = per_method[MODEL_CAPACITY], per_method[RULES_OWN]
        diff_est = {m: est_m[m] - est_r[m] for m in METRICS}
        diff_boot = {m: boot_m[m] - boot_r[m] for m in METRICS}
        rows.append(_row(target, DIFFERENCE, "difference", math.nan, diff_est, diff_boot))
        table = pd.DataFrame(rows)
        table.insert(2, "n", len(y))
        table.insert(3, "positives", int(y.sum()))
        table.insert(4, "base_rate", float(y.mean()))
        frames.append(table)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = boot_m["recall"] / boot_r["recall"] - 1
        gain_low, gain_high = _interval(gain)
        summary[target] = {
            "capacity": k,
            "recall_rules": float(est_r["recall"]),
            "recall_model_same_capacity": float(est_m["recall"]),
            "recall_gain": float(est_m["recall"] / est_r["recall"] - 1) if est_r["recall"] else math.nan,
            "recall_gain_lo": gain_low,
            "recall_gain_hi": gain_high,
            "recall_difference": float(diff_est["recall"]),
            "recall_difference_lo": _interval(diff_boot["recall"])[0],
            "recall_difference_hi": _interval(diff_boot["recall"])[1],
        }
    return Comparison(table=pd.concat(frames, ignore_index=True), tuned_thresholds=tuned,
                      capacity=capacity, summary=summary, selections=selections)


def _row(target: str, method: str, kind: str, threshold: float, est: dict, boot: dict) -> dict:
    row = {"target": target, "method": method, "kind": kind, "threshold": float(threshold)}
    for metric in METRICS:
        low, high = _interval(np.asarray(boot[metric], dtype=float))
        row[metric] = float(est[metric])
        row[f"{metric}_lo"] = low
        row[f"{metric}_hi"] = high
    return row


def comparison_metrics(comparison: Comparison) -> dict[str, float]:
    """The comparison table and summary as flat MLflow metric names."""
    out = {}
    for _, row in comparison.table.iterrows():
        key = METHOD_KEYS[row["method"]]
        for metric in METRICS:
            for suffix in ("", "_lo", "_hi"):
                value = row[f"{metric}{suffix}"]
                if np.isfinite(value):
                    out[f"{metric}{suffix}_{row['target']}_{key}"] = float(value)
        if np.isfinite(row["threshold"]):
            out[f"threshold_{row['target']}_{key}"] = float(row["threshold"])
    for target, values in comparison.summary.items():
        for name, value in values.items():
            if np.isfinite(value):
                out[f"{name}_{target}"] = float(value)
    return out
