"""Learned scores against the rule scorecard, on the window the model was judged on.

`compare_to_dir` is the `leadq compare` step. It rebuilds the model's validation and test
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
one row per lead, see `leadq.data.lead_table`) have no cutoffs and no windows. Training measured the
model on out-of-fold predictions over fixed seeded stratified folds, so the comparison does the
same: the run's chosen candidate is refitted on each fold's other folds and the calibrated
out-of-fold probabilities rebuilt (`leadq.data.lead_table.out_of_fold_probabilities`; the pooled
ROC AUC is checked against the run's logged `test_roc_auc_<target>`), rule points come from
`leadq.data.lead_table.score_lead_table_rules`, and every metric is measured over ALL leads, each
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
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadq.config import PipelineConfig
from leadq.core.errors import BadInputError
from leadq.rules.scorecard import Scorecard, Thresholds

if TYPE_CHECKING:
    from leadq.rules.learned import LearnedScorecard

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
METRICS = ("leads_passed", "precision", "recall", "lift", "expected_value")
N_BOOT = 1000
CHUNK = 100
DEFAULT_RULES = Path("pipelines/rules/default.yaml")
CONFIG_ARTIFACT = "config.yaml"

ProgressCallback = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- the pure core


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
    from leadq.models.train import choose_threshold

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


# --------------------------------------------------------------------------- plots


def _figure(title: str, columns: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * columns, 4.5))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, columns, i + 1) for i in range(columns)]
    fig.suptitle(title)
    return fig, axes


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share passed, recall, precision) at every distinct threshold, highest first."""
    order = np.argsort(-score, kind="stable")
    s, yy = score[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(yy)[last]
    passed = last + 1.0
    return passed / len(y), tp / max(y.sum(), 1), tp / passed


def _point(y: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    passed = mask.sum()
    tp = (mask * y).sum()
    return passed / len(y), tp / max(y.sum(), 1), (tp / passed if passed else math.nan)


MARKERS = {RULES_OWN: ("o", "black"), RULES_TUNED: ("s", "tab:orange"),
           MODEL_CAPACITY: ("^", "tab:blue"), MODEL_TUNED: ("D", "tab:blue"),
           LEARNED: ("P", "tab:green")}


def save_comparison_plots(target: str, test: pd.DataFrame, selections: dict[str, np.ndarray],
                          out_dir: Path, thresholds: dict[str, float] | None = None,
                          window: str = "test") -> list[tuple[str, Path]]:
    """PR and cumulative-gain curves (model, rules, learned scorecard) with the operating
    points marked, and score distributions by outcome with the thresholds (by method) drawn;
    returns (caption, path) pairs."""
    thresholds = thresholds or {}
    y = test[f"label_{target}"].to_numpy(dtype=float)
    curves = {"model": (test[f"p_{target}"].to_numpy(dtype=float), "tab:blue", "-"),
              "rules": (test["rules_points"].to_numpy(dtype=float), "black", "-")}
    if "learned_points" in test.columns and LEARNED in selections:
        curves["learned scorecard"] = (test["learned_points"].to_numpy(dtype=float), "tab:green", "--")
    shapes = {name: _curve(y, score) for name, (score, _, _) in curves.items()}
    points = {m: _point(y, mask) for m, mask in selections.items()}
    out = []

    fig, (ax,) = _figure(f"Precision-recall, {target} ({window})")
    for name, (_, color, style) in curves.items():
        share, recall, precision = shapes[name]
        ax.plot(recall, precision, color=color, linestyle=style, label=name, drawstyle="steps-post")
    for method, (_, recall, precision) in points.items():
        marker, color = MARKERS[method]
        ax.plot([recall], [precision], marker=marker, color=color, markersize=8, linestyle="none",
                label=method, markeredgecolor="white")
    ax.axhline(float(y.mean()), linestyle=":", color="grey", label="base rate")
    ax.set_xlabel("recall (share of conversions passed)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=7)
    out.append((f"Precision-recall, {target}", _save(fig, out_dir / f"pr_{target}.png")))

    fig, (ax,) = _figure(f"Cumulative gain, {target} ({window})")
    for name, (_, color, style) in curves.items():
        share, recall, _ = shapes[name]
        ax.plot(np.r_[0, share], np.r_[0, recall], color=color, linestyle=style, label=name)
    for method, (share, recall, _) in points.items():
        marker, color = MARKERS[method]
        ax.plot([share], [recall], marker=marker, color=color, markersize=8, linestyle="none",
                label=method, markeredgecolor="white")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ax.set_xlabel("share of leads passed")
    ax.set_ylabel("share of conversions captured")
    ax.legend(loc="lower right", fontsize=7)
    out.append((f"Cumulative gain, {target}", _save(fig, out_dir / f"gain_{target}.png")))

    fig, axes = _figure(f"Score distributions by outcome, {target} ({window})", columns=2)
    for ax, (name, column, xlabel, methods) in zip(axes, (
            ("model", f"p_{target}", f"model probability p_{target}", (MODEL_CAPACITY, MODEL_TUNED)),
            ("rules", "rules_points", "rule points", (RULES_OWN, RULES_TUNED)))):
        values = test[column].to_numpy(dtype=float)
        bins = np.histogram_bin_edges(values, bins=40)
        for outcome, color in ((0.0, "tab:grey"), (1.0, "tab:red")):
            ax.hist(values[y == outcome], bins=bins, density=True, alpha=0.5, color=color,
                    label="converted" if outcome else "not converted")
        for method in methods:
            if method in thresholds and np.isfinite(thresholds[method]):
                ax.axvline(thresholds[method], color=MARKERS[method][1], linestyle="--",
                           linewidth=1, label=method)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    out.append((f"Score distributions, {target}", _save(fig, out_dir / f"scores_{target}.png")))
    return out


# --------------------------------------------------------------------------- the step


@dataclass
class ModelRef:
    """A resolved model: URI, registered name and version, and the run that logged it."""

    uri: str
    name: str
    version: str
    run_id: str | None


@dataclass
class ComparisonOutcome:
    """What `compare_to_dir` did: the table, the operating points, files and the MLflow run."""

    out: Path
    comparison: Comparison
    model: ModelRef
    scorecard: Scorecard
    learned_scorecard: Scorecard | None
    learned: "LearnedScorecard | None"
    config: PipelineConfig
    data_dir: Path
    run_id: str
    tracking_uri: str
    files: list[Path]
    scored: pd.DataFrame
    windows: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """The comparison table (the rows of `comparison.csv`)."""
        return self.comparison.table


def resolve_model(model_ref: str | None, tracking_uri: str) -> ModelRef:
    """NAME@ALIAS, NAME/VERSION, models:/... or runs:/RUN_ID/model to a ModelRef (or a
    one-line ModelNotFoundError listing what exists)."""
    from leadq.scoring.predict import parse_model_ref
    from leadq.tracking.registry import model_version

    uri, name, ref = parse_model_ref(model_ref)
    if name:
        mv = model_version(name, ref, tracking_uri)
        return ModelRef(uri=uri, name=name, version=str(mv.version), run_id=mv.run_id)
    run_id = uri.removeprefix("runs:/").split("/", 1)[0] if uri.startswith("runs:/") else None
    return ModelRef(uri=uri, name="", version=ref, run_id=run_id)


def logged_config(run_id: str | None, tracking_uri: str) -> PipelineConfig | None:
    """The resolved config logged with a training run (`config.yaml`), or None."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    from leadq.config import parse_config

    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="leadq-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=CONFIG_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
            )
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError):
        return None
    return parse_config(raw, source=f"run {run_id}: {CONFIG_ARTIFACT}")


def default_rules_path() -> Path:
    """`pipelines/rules/default.yaml` under the working directory, else in the source tree."""
    if DEFAULT_RULES.is_file():
        return DEFAULT_RULES
    import leadq

    source_tree = Path(leadq.__file__).resolve().parents[2] / DEFAULT_RULES
    if source_tree.is_file():
        return source_tree
    raise BadInputError(f"{DEFAULT_RULES}: default scorecard not found; pass --rules FILE")


def _data_dir(data_dir: Path | None, logged: PipelineConfig | None, config: PipelineConfig) -> Path:
    if data_dir is not None:
        folder, origin = Path(data_dir), "--data"
    elif logged is not None:
        folder, origin = Path(logged.data.dir), "the data folder logged with the model's run"
    else:
        folder, origin = Path(config.data.dir), "the config's data.dir"
    if not folder.is_dir():
        raise BadInputError(f"{folder}: data folder not found ({origin}); pass --data DIR")
    return folder


def _scored_examples(data, labelled: pd.DataFrame, artifacts, targets: list[str],
                     scorecard: Scorecard, learned: Scorecard) -> pd.DataFrame:
    """Validation and test examples with model probabilities, rule and learned points."""
    from leadq.features.engine import build_feature_table
    from leadq.rules.scorecard import score_examples
    from leadq.models.train import score_features

    rows = labelled[labelled["window"].isin(["validation", "test"])].reset_index(drop=True)
    features = build_feature_table(data, artifacts.spec, rows[["lead_id", "cutoff"]])
    pipelines = {t: m for t, m in artifacts.load_pipelines().items() if t in targets}
    probabilities = score_features(pipelines, artifacts.spec, features)
    out = rows.copy()
    for column in probabilities.columns:
        out[column] = probabilities[column].to_numpy()
    out["rules_points"] = score_examples(data, scorecard, rows)["points"].to_numpy()
    out["learned_points"] = score_examples(data, learned, rows)["points"].to_numpy()
    return out


def _check_rebuilt_window(scored: pd.DataFrame, targets: list[str], run_id: str | None,
                          tracking_uri: str) -> list[str]:
    """A warning when the rebuilt test window does not reproduce the run's logged test AUC
    (the data changed since training, or another config was given)."""
    from sklearn.metrics import roc_auc_score

    from leadq.tracking.store import client

    if not run_id:
        return []
    logged = client(tracking_uri).get_run(run_id).data.metrics
    warnings = []
    for target in targets:
        key = f"test_roc_auc_{target}"
        test = scored[(scored["window"] == "test") & scored[f"label_{target}"].notna()]
        if key not in logged or test[f"label_{target}"].nunique() < 2:
            continue
        auc = roc_auc_score(test[f"label_{target}"], test[f"p_{target}"])
        if abs(auc - logged[key]) > 1e-6:
            warnings.append(
                f"{target}: the rebuilt test window gives ROC AUC {auc:.4f}, the model's run logged "
                f"{logged[key]:.4f}: the data or config differs from training"
            )
    return warnings


def _metrics_for_mlflow(comparison: Comparison) -> dict[str, float]:
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


def _target_sections(comparison: Comparison, figures: dict[str, list[tuple[str, Path]]],
                     population: str) -> list:
    """One report section per target: its population, the same-capacity headline, its rows and
    plots. `population` describes the rows, with `{positives}` for the conversion count."""
    from leadq.core.html import format_value

    sections = []
    for target in comparison.capacity:
        rows = comparison.table[comparison.table["target"] == target]
        s = comparison.summary[target]
        first = rows.iloc[0]
        paragraphs = [
            f"{int(first['n']):,} " + population.format(positives=f"{int(first['positives']):,}")
            + f" (base rate {format_value('base_rate', first['base_rate'])}).",
            f"At the rules' capacity ({s['capacity']:,} leads passed) the model captures "
            f"{format_value('recall', s['recall_model_same_capacity'])} of conversions against "
            f"{format_value('recall', s['recall_rules'])} for the rules: "
            f"{s['recall_gain']:+.0%} (95 % interval {s['recall_gain_lo']:+.0%} to "
            f"{s['recall_gain_hi']:+.0%}).",
        ]
        sections.append((f"Target {target}", paragraphs, rows, figures.get(target, [])))
    return sections


def report_html(comparison: Comparison, model: ModelRef, scorecard: Scorecard,
                config: PipelineConfig, windows: dict[str, str],
                figures: dict[str, list[tuple[str, Path]]]) -> str:
    """The self-contained HTML report: per target the table (the rows of `comparison.csv`)
    and the embedded plots, with the window and the economics it was measured with."""
    from leadq.core.html import render_report

    if windows.get("evaluation") == "cross_validation":
        return _lead_table_report_html(comparison, model, scorecard, config, windows, figures)
    intro = [
        f"Model {model.uri} (version {model.version}) against the scorecard "
        f"'{scorecard.name}' and a learned scorecard, on the test window "
        f"{windows.get('test_first', '?')[:10]} to {windows.get('test_last', '?')[:10]} "
        f"({windows.get('test_cutoffs', '?')} cutoffs {config.snapshots.cadence_days} days apart, "
        f"horizon {config.horizon_days} days); "
        f"thresholds tuned on the validation window {windows.get('validation_first', '?')[:10]} to "
        f"{windows.get('validation_last', '?')[:10]}.",
        f"Expected value = {config.value_per_conversion:g} per conversion passed - "
        f"{config.cost_per_contact:g} per lead passed.",
    ]
    sections = _target_sections(comparison, figures, f"test examples, {{positives}} conversions within "
                                f"{config.horizon_days} days")
    notes = [
        "Each cell: the estimate on the test window, then its 95 % bootstrap interval "
        "(1,000 resamples of leads; a lead's rows at all test cutoffs are drawn together; "
        "thresholds held fixed).",
        "recall = share of the test window's conversions that were passed; lift = precision "
        "over the base rate.",
        "model @ same capacity passes as many leads as the rules at their own threshold, "
        "counted over the whole test window (top k by probability), not per cutoff.",
        "Tuned thresholds maximise expected value on the validation window only; test labels "
        "are never used to choose a threshold.",
        "The difference row is model @ same capacity minus rules @ own threshold, paired "
        "on the same resamples.",
    ]
    return render_report("leadq: learned scores against rules", intro, sections, notes)


def _lead_table_report_html(comparison: Comparison, model: ModelRef, scorecard: Scorecard,
                            config: PipelineConfig, windows: dict[str, str],
                            figures: dict[str, list[tuple[str, Path]]]) -> str:
    """`report_html` for a lead-level table: out-of-fold predictions over every lead."""
    from leadq.core.html import render_report

    learned = "and a learned scorecard " if (comparison.table["method"] == LEARNED).any() else ""
    intro = [
        f"Model {model.uri} (version {model.version}, candidate {windows.get('chosen', '?')}) against "
        f"the scorecard '{scorecard.name}' {learned}on the lead-level table {windows.get('source', '?')}: "
        f"out-of-fold predictions over all {windows.get('rows', '?')} leads, on the same "
        f"{windows.get('folds', '?')} seeded stratified folds training used (each lead scored by a "
        "model fitted on the other folds, calibrated across folds).",
        f"Expected value = {config.value_per_conversion:g} per conversion passed - "
        f"{config.cost_per_contact:g} per lead passed.",
    ]
    sections = _target_sections(comparison, figures, "leads, {positives} conversions")
    notes = [
        "Each cell: the estimate over all leads (out of fold), then its 95 % bootstrap interval "
        "(1,000 resamples of leads; thresholds and the model's fold fits held fixed).",
        "recall = share of all conversions that were passed; lift = precision over the base rate.",
        "model @ same capacity passes as many leads as the rules at their own threshold: the top k "
        "of the pooled out-of-fold probabilities.",
        "Tuned thresholds are cross-fitted: each fold's leads are passed at the expected-value "
        "threshold chosen on the other folds' out-of-fold scores and labels, never their own; the "
        "table shows the median of the per-fold thresholds.",
        "The difference row is model @ same capacity minus rules @ own threshold, paired "
        "on the same resamples.",
    ]
    return render_report("leadq: learned scores against rules", intro, sections, notes)


def _lead_table_scored(config: PipelineConfig, path: Path | None, model: ModelRef, model_ref: str | None,
                       targets: list[str], scorecard: Scorecard, learned_card: Scorecard | None,
                       tracking_uri: str, progress: ProgressCallback | None = None
                       ) -> tuple[pd.DataFrame, dict[str, str], Path, list[str]]:
    """Out-of-fold rows of a lead-level table: (scored, description, file, warnings).

    `scored` has `lead_id`, `window` ('test' throughout), `fold`, `label_<target>`,
    `p_<target>` (rebuilt out-of-fold probabilities of the run's chosen candidate),
    `rules_points` and, with `learned_card`, `learned_points`."""
    from leadq.data.lead_table import (
        load_lead_table,
        model_lead_table_doc,
        out_of_fold_probabilities,
        score_lead_table_rules,
    )
    from leadq.tracking.store import client

    if config.lead_table.timestamp_column:
        raise BadInputError("config: compare on a lead table with a timestamp column (time split) is not "
                            "supported; it compares on cross-validated lead tables")
    warnings: list[str] = []
    doc = model_lead_table_doc(model_ref, tracking_uri)
    if doc is None:
        raise BadInputError(f"{model.uri}: was trained on the three tables, but the config describes a "
                            "lead-level table; pass --config with the model's own config")
    table = load_lead_table(config, path)
    warnings += table.report
    target = table.target
    if target not in targets:
        raise BadInputError(f"{model.uri}: does not predict the config's target '{target}'")
    if doc.get("sha256") and doc["sha256"] != table.doc["sha256"]:
        warnings.append(f"{table.source}: differs from the table the model was trained on "
                        f"({doc.get('source', '?')}, {doc.get('rows', '?')} rows): the out-of-fold "
                        "predictions are rebuilt on this one")
    if doc.get("feature_columns") and doc["feature_columns"] != table.doc["feature_columns"]:
        warnings.append(f"{table.source}: its feature columns differ from the model's")
    params = client(tracking_uri).get_run(model.run_id).data.params if model.run_id else {}
    chosen = params.get(f"chosen.{target}")
    if not chosen:
        raise BadInputError(f"{model.uri}: its run records no chosen candidate (param 'chosen.{target}'); "
                            "cannot rebuild the out-of-fold predictions")
    p, fold = out_of_fold_probabilities(table, config, chosen, progress)
    file = Path(table.source)
    rules = score_lead_table_rules(config, file, scorecard).set_index("lead_id")["points"]
    scored = pd.DataFrame({
        "lead_id": table.ids.to_numpy(),
        "window": "test",
        "fold": fold,
        f"label_{target}": table.y.astype(float),
        f"p_{target}": p,
        "rules_points": rules.reindex(table.ids).to_numpy(dtype=float),
    })
    if learned_card is not None:
        learned = score_lead_table_rules(config, file, learned_card).set_index("lead_id")["points"]
        scored["learned_points"] = learned.reindex(table.ids).to_numpy(dtype=float)
    else:
        warnings.append("learned scorecard: not fitted for a lead-level table (it needs snapshot windows "
                        "and events); its row is left out (pass --learned FILE to compare one)")
    description = {
        "evaluation": "cross_validation", "folds": str(config.lead_table.cv_folds),
        "rows": str(len(scored)), "positives": str(int(table.y.sum())), "source": table.source,
        "chosen": chosen,
    }
    return scored, description, file, warnings


def compare_to_dir(
    out: Path,
    model_ref: str | None = None,
    rules_path: Path | None = None,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    tracking_uri: str | None = None,
    learned_path: Path | None = None,
    n_boot: int = N_BOOT,
    progress: ProgressCallback | None = None,
    mapping=None,
) -> ComparisonOutcome:
    """The `leadq compare` step: model vs rules on the model's test window, written to `out`.

    The data are read with the mapping of the config (logged with the model's run unless
    `config_path` replaces it); `mapping` (a `DataMapping`) replaces it.

    `model_ref` defaults to lead-quality@champion; `rules_path` to
    pipelines/rules/default.yaml; the config to the one logged with the model's run
    (`config_path` replaces it); the data folder to the one logged with the run (`data_dir`
    replaces it). Without `learned_path` a learned scorecard is fitted on the training window.

    With a lead-level table config (a `lead_table` section), `data_dir` is the table's file
    (default `lead_table.path`) and the comparison runs on rebuilt out-of-fold predictions with
    cross-fitted tuned thresholds (see the module docstring); no learned scorecard is fitted.
    """
    import mlflow

    from leadq.config import config_to_yaml, load_config
    from leadq.rules.learned import fit_learned_scorecard, label_windows
    from leadq.data.load import load_data
    from leadq.tracking.pyfunc import load_model_artifacts
    from leadq.rules.scorecard import load_scorecard
    from leadq.tracking.store import ensure_experiment, log_json, resolve_tracking_uri, use_tracking_uri

    total = 7

    def report(step: str, done: int) -> None:
        if progress is not None:
            progress(step, done, total)

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"{out}: --out must be a folder")
    report("resolving the model and its config", 0)
    scorecard = load_scorecard(rules_path if rules_path is not None else default_rules_path())
    learned_card = load_scorecard(learned_path) if learned_path is not None else None
    uri = resolve_tracking_uri(tracking_uri)
    with use_tracking_uri(uri):
        model = resolve_model(model_ref, uri)
        logged = logged_config(model.run_id, uri)
        artifacts = load_model_artifacts(model.uri, tracking_uri=uri)
    if config_path is not None:
        config = load_config(config_path)
    elif logged is not None:
        config = logged
    else:
        raise BadInputError(f"{model.uri}: its run has no {CONFIG_ARTIFACT}; pass --config FILE")
    if mapping is not None:
        config = config.model_copy(update={"data": config.data.model_copy(update={"mapping": mapping})})
    lead_table = config.lead_table is not None
    if lead_table:
        targets = [t for t in config.targets[:1] if t in artifacts.targets]
    else:
        folder = _data_dir(data_dir, logged if config_path is None else None, config)
        targets = [t for t in config.targets if t in artifacts.targets]
    if not targets:
        raise BadInputError(f"{model.uri}: predicts {artifacts.targets}, none of the config's targets "
                            f"{config.targets}")

    learned = None
    if lead_table:
        report("rebuilding the out-of-fold predictions of the lead table", 1)
        scored, windows, folder, warnings = _lead_table_scored(
            config, data_dir, model, model_ref, targets, scorecard, learned_card, uri)
        warnings += _check_rebuilt_window(scored, targets, model.run_id, uri)
        tuning = "cross_fold"
    else:
        report("rebuilding the snapshot windows", 1)
        data = load_data(folder, config.data.mapping)
        labelled, split = label_windows(data, config)
        if learned_card is None:
            report("fitting the learned scorecard on the training window", 2)
            learned = fit_learned_scorecard(data, labelled, config, reference=scorecard)
            learned_card = learned.scorecard
        report("scoring validation and test examples", 3)
        scored = _scored_examples(data, labelled, artifacts, targets, scorecard, learned_card)
        warnings = _check_rebuilt_window(scored, targets, model.run_id, uri)
        windows = split.summary()
        tuning = "validation"

    report("comparing with bootstrap intervals", 4)
    comparison = compare_scored(
        scored, targets, scorecard.thresholds,
        learned_card.thresholds if learned_card is not None else None,
        config.value_per_conversion, config.cost_per_contact, n_boot=n_boot, seed=config.seed,
        tuning=tuning,
    )

    report("writing the report", 5)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        figures = {}
        for target in targets:
            test = scored[(scored["window"] == "test") & scored[f"label_{target}"].notna()]
            rows = comparison.table[comparison.table["target"] == target]
            figures[target] = save_comparison_plots(
                target, test.reset_index(drop=True), comparison.selections[target], tmp,
                dict(zip(rows["method"], rows["threshold"])),
                window="out of fold" if lead_table else "test")
        comparison.table.to_csv(tmp / "comparison.csv", index=False)
        if learned_card is not None:
            learned_yaml = learned.to_yaml() if learned is not None else yaml_dump(learned_card)
            (tmp / "learned_scorecard.yaml").write_text(learned_yaml, encoding="utf-8")
        (tmp / "report.html").write_text(
            report_html(comparison, model, scorecard, config, windows, figures), encoding="utf-8")

        report("logging the comparison to MLflow", 6)
        experiment_id = ensure_experiment(config.experiment_name, uri)
        with use_tracking_uri(uri):
            with mlflow.start_run(experiment_id=experiment_id, run_name="compare") as run:
                mlflow.set_tags({
                    "leadq.kind": "compare", "leadq.model_uri": model.uri,
                    "leadq.model_version": model.version, "leadq.model_run_id": model.run_id or "",
                    "leadq.scorecard": scorecard.name,
                })
                learned_params = {} if learned_card is None else {
                    "learned.mql": str(learned_card.thresholds.mql),
                    "learned.sql": str(learned_card.thresholds.sql),
                }
                mlflow.log_params({
                    ("lead_table.path" if lead_table else "data.dir"): str(folder)[:6000],
                    "n_boot": str(n_boot), "capacity": "overall top-k",
                    "threshold_tuning": tuning,
                    "value_per_conversion": str(config.value_per_conversion),
                    "cost_per_contact": str(config.cost_per_contact),
                    "rules.mql": str(scorecard.thresholds.mql), "rules.sql": str(scorecard.thresholds.sql),
                    **learned_params,
                    **{f"split.{k}": str(v)[:6000] for k, v in windows.items()},
                })
                mlflow.log_metrics(_metrics_for_mlflow(comparison))
                mlflow.log_text(config_to_yaml(config), CONFIG_ARTIFACT)
                log_json(comparison.tuned_thresholds, "tuned_thresholds.json")
                mlflow.log_text(yaml_dump(scorecard), "rules_scorecard.yaml")
                mlflow.log_artifacts(str(tmp), artifact_path="comparison")
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for path in sorted(tmp.iterdir(), key=lambda p: p.name == "report.html"):
            os.replace(path, out / path.name)
            files.append(out / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report("done", total)
    return ComparisonOutcome(
        out=out, comparison=comparison, model=model, scorecard=scorecard,
        learned_scorecard=learned_card, learned=learned, config=config, data_dir=folder,
        run_id=run.info.run_id, tracking_uri=uri, files=files, scored=scored, windows=windows,
        warnings=warnings,
    )


def yaml_dump(scorecard: Scorecard) -> str:
    """A scorecard as YAML in its own format."""
    import yaml

    return yaml.safe_dump(scorecard.model_dump(mode="json", exclude_none=True), sort_keys=False)


def describe(outcome: ComparisonOutcome) -> list[str]:
    """The comparison as terminal lines: one table per target and a summary line."""
    from leadq.core.html import METRICS as SHOWN
    from leadq.core.html import format_cell, format_value

    lines = []
    table = outcome.table
    for target in outcome.comparison.capacity:
        rows = table[table["target"] == target]
        first = rows.iloc[0]
        kind = ("leads (out of fold)" if outcome.windows.get("evaluation") == "cross_validation"
                else "test examples")
        lines.append(f"{target}: {int(first['n']):,} {kind}, {int(first['positives']):,} "
                     f"conversions (base rate {format_value('base_rate', first['base_rate'])})")
        cells = [["", "threshold", *(m.replace("_", " ") for m in SHOWN)]]
        for _, row in rows.iterrows():
            cells.append([row["method"], format_value("threshold", row["threshold"]),
                          *(format_cell(row, m) for m in SHOWN)])
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
        for r in cells:
            lines.append("  " + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        s = outcome.comparison.summary[target]
        lines.append(
            f"  at the rules' capacity ({s['capacity']:,} leads) the model captures "
            f"{s['recall_gain']:+.0%} conversions (95 % interval {s['recall_gain_lo']:+.0%} to "
            f"{s['recall_gain_hi']:+.0%}); recall difference {s['recall_difference']:+.3f} "
            f"[{s['recall_difference_lo']:+.3f}, {s['recall_difference_hi']:+.3f}]"
        )
        lines.append("")
    return lines
