"""Fitting on the time split: per target, fit the candidates, pick one on validation, calibrate,
set a threshold, evaluate once on test.

`train_models` is pure (DataFrames in, a TrainResult out); logging, registering and the gate are
`leadq.tracking.training_run`, the whole step `leadq.steps.train.run_training`. Nothing prints:
progress goes through an optional callback.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss

from leadq.models.audit import run_audit
from leadq.models.candidates import build_candidates
from leadq.config import PipelineConfig
from leadq.models.drift import reference_bins
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.models.metrics import binary_metrics
from leadq.features.split import WINDOWS, CutoffSplit, split_examples

ProgressCallback = Callable[[str, int, int], None]
"""Called as progress(step_description, steps_done, steps_total)."""

OracleFn = Callable[[pd.DataFrame, str], np.ndarray]
"""Given examples (lead_id, cutoff, ...) and a target, the generator's true probabilities."""

REFERENCE_TOP_FEATURES = 10
REFERENCE_MIN_ROWS = 1000


@dataclass
class TargetModel:
    """The chosen, calibrated model for one target and everything measured about it."""

    target: str
    model: Any
    chosen: str
    candidate_log_loss: dict[str, float]
    threshold: float
    validation: dict[str, float]
    test: dict[str, float]
    importances: pd.Series
    y_validation: np.ndarray
    p_validation: np.ndarray
    y_test: np.ndarray
    p_test: np.ndarray


@dataclass
class TrainResult:
    """All targets' models with the split, spec and held-out examples they were judged on."""

    targets: dict[str, TargetModel]
    spec: FeatureSpec
    split: CutoffSplit | None
    test_examples: pd.DataFrame
    train_sample: pd.DataFrame
    window_rows: dict[str, int]
    reference: dict[str, Any] = field(default_factory=dict)
    audit: pd.DataFrame | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)
    evaluation: str = "time_split"
    """'time_split' (validation and test windows) or 'cross_validation' (test metrics are
    out-of-fold over every row; see `train_cross_validated`)."""
    lead_table: dict[str, Any] | None = None
    """How the lead-level table was read (`leadq.features.lead_table`), logged so scoring reads it alike."""

    def metrics(self) -> dict[str, float]:
        """Flat metric dict: `val_<metric>_<target>`, `test_<metric>_<target>` and
        `val_log_loss_<target>_<candidate>` for every candidate tried."""
        out: dict[str, float] = {}
        for t, tm in self.targets.items():
            for name, value in tm.validation.items():
                out[f"val_{name}_{t}"] = value
            for name, value in tm.test.items():
                out[f"test_{name}_{t}"] = value
            for cand, value in tm.candidate_log_loss.items():
                out[f"val_log_loss_{t}_{cand}"] = value
            out[f"threshold_{t}"] = tm.threshold
        out.update(self.extra_metrics)
        return out

    def thresholds(self) -> dict[str, float]:
        """Default decision threshold per target (chosen on validation)."""
        return {t: tm.threshold for t, tm in self.targets.items()}

    def models(self) -> dict[str, Any]:
        """The fitted calibrated pipeline per target."""
        return {t: tm.model for t, tm in self.targets.items()}

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """`p_<target>` columns for a lead-level feature table."""
        return score_features(self.models(), self.spec, features)

    def test_predictions(self) -> pd.DataFrame:
        """The test window as the model scored it: `lead_id`, `cutoff` (when there is one), and
        per target `label_<t>` and `p_<t>` (NaN where the row is no example for t). Logged with
        the run, so monitoring measures the test window as it measures issued scores."""
        examples = self.test_examples
        frame = examples[[c for c in ("lead_id", "cutoff") if c in examples]].copy()
        for t, tm in self.targets.items():
            label = examples[f"label_{t}"].to_numpy(dtype=float)
            p = np.full(len(frame), np.nan)
            p[~np.isnan(label)] = tm.p_test
            frame[f"label_{t}"], frame[f"p_{t}"] = label, p
        return frame


def score_features(models: dict[str, Any], spec: FeatureSpec, features: pd.DataFrame) -> pd.DataFrame:
    """Calibrated probabilities `p_<target>` for each row of `features` (same index)."""
    X = features[spec.feature_columns()]
    return pd.DataFrame(
        {f"p_{t}": model.predict_proba(X)[:, 1] for t, model in models.items()}, index=features.index
    )


def choose_threshold(
    y_true, y_score, rule: str = "f1", value_per_conversion: float = 1.0,
    cost_per_contact: float = 0.0,
) -> float:
    """The score threshold (pass leads with score >= threshold) that maximises the rule.

    'f1' maximises F1 over all distinct scores. 'expected_value' maximises
    value_per_conversion * true positives - cost_per_contact * leads passed. Ties pick the
    higher threshold (fewer leads passed).
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_score, dtype=float)
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # The last index of each run of equal scores: passing "score >= s" passes the whole run.
    last = np.r_[np.nonzero(np.diff(p_sorted))[0], len(p_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    passed = last + 1.0
    if rule == "f1":
        objective = 2 * tp / (passed + y.sum())
    elif rule == "expected_value":
        objective = value_per_conversion * tp - cost_per_contact * passed
    else:
        raise BadInputError(f"unknown threshold rule '{rule}'")
    best = int(np.argmax(objective))
    return float(p_sorted[last[best]])


def _check_columns(examples: pd.DataFrame, spec: FeatureSpec, targets: list[str]) -> None:
    needed = ["lead_id", "cutoff", *spec.feature_columns(), *(f"label_{t}" for t in targets)]
    missing = [c for c in needed if c not in examples.columns]
    if missing:
        raise BadInputError(f"training examples lack column(s): {', '.join(missing)}")


def check_window(y: np.ndarray, window: str, target: str, minimum: int) -> None:
    if not len(y):
        raise BadInputError(
            f"the {window} window has no examples for target '{target}' (0 rows): the history is too short "
            "for the split, or the snapshots' start/end leave it empty"
        )
    positives = int(y.sum())
    negatives = int(len(y) - positives)
    if positives < minimum or negatives < minimum:
        kind, count = ("positives", positives) if positives < minimum else ("negatives", negatives)
        raise BadInputError(
            f"too few {kind} for target '{target}' in the {window} window: {count} "
            f"(need {minimum}); use a longer history, more leads per cutoff or lower "
            "candidates.min_positives"
        )


def permutation_importances(
    model, X: pd.DataFrame, y: np.ndarray, rows: int, seed: int, repeats: int = 2
) -> pd.Series:
    """Increase in log loss when one column is shuffled, averaged over `repeats` shuffles of
    at most `rows` sampled rows; sorted, largest first. Columns constant in the sample score
    0 without being scored (shuffling cannot change them), which saves most of the time."""
    rng = np.random.default_rng(seed)
    if len(X) > rows:
        idx = np.sort(rng.choice(len(X), size=rows, replace=False))
        X, y = X.iloc[idx], y[idx]
    X = X.reset_index(drop=True)
    labels = [0, 1]
    scored = [name for name in X.columns if X[name].nunique(dropna=False) > 1]
    # Every shuffled copy is scored in one call (the model's per-call overhead dominates on a
    # few hundred rows); the copies are drawn in the order a loop would draw them.
    copies = [X] + [X.assign(**{name: X[name].array.take(rng.permutation(len(X)))})
                    for name in scored for _ in range(repeats)]
    p = model.predict_proba(pd.concat(copies, ignore_index=True))[:, 1].reshape(len(copies), len(X))
    base = log_loss(y, p[0], labels=labels)
    losses = np.array([log_loss(y, copy, labels=labels) for copy in p[1:]]).reshape(len(scored), repeats)
    out = dict.fromkeys(X.columns, 0.0)
    out.update(zip(scored, (losses.mean(axis=1) - base).tolist()))
    return pd.Series(out, dtype=float).sort_values(ascending=False, kind="stable")


def _fit_target(
    target: str, frames: dict[str, pd.DataFrame], spec: FeatureSpec, config: PipelineConfig,
    oracle: OracleFn | None, tick: Callable[[str], None],
) -> TargetModel:
    label = f"label_{target}"
    cols = spec.feature_columns()
    data = {}
    for window, frame in frames.items():
        rows = frame[frame[label].notna()]
        y = rows[label].to_numpy(dtype=float)
        check_window(y, window, target, config.candidates.min_positives)
        data[window] = (rows, rows[cols], y)
    _, X_train, y_train = data["train"]
    val_rows, X_val, y_val = data["validation"]
    test_rows, X_test, y_test = data["test"]

    fitted, losses = {}, {}
    for name, pipeline in build_candidates(spec, config.candidates, config.seed).items():
        tick(f"{target}: fitting {name}")
        fitted[name] = pipeline.fit(X_train, y_train)
        losses[name] = float(log_loss(y_val, pipeline.predict_proba(X_val)[:, 1], labels=[0, 1]))
    chosen = min(losses, key=lambda n: (losses[n], n))

    tick(f"{target}: calibrating and evaluating {chosen}")
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(fitted[chosen]), method=config.candidates.calibration
    ).fit(X_val, y_val)
    p_val = calibrated.predict_proba(X_val)[:, 1]
    p_test = calibrated.predict_proba(X_test)[:, 1]
    threshold = choose_threshold(
        y_val, p_val, config.candidates.threshold_rule,
        config.value_per_conversion, config.cost_per_contact,
    )
    oracle_val = oracle(val_rows, target) if oracle is not None else None
    oracle_test = oracle(test_rows, target) if oracle is not None else None
    importances = permutation_importances(
        calibrated, X_val, y_val, config.candidates.importance_rows, config.seed
    )
    return TargetModel(
        target=target, model=calibrated, chosen=chosen, candidate_log_loss=losses,
        threshold=threshold,
        validation=binary_metrics(y_val, p_val, oracle_val),
        test=binary_metrics(y_test, p_test, oracle_test),
        importances=importances,
        y_validation=y_val, p_validation=p_val, y_test=y_test, p_test=p_test,
    )


def reference_rows(test_frame: pd.DataFrame, min_rows: int = REFERENCE_MIN_ROWS) -> pd.DataFrame:
    """The population a model meets when it scores, as far as training knows it: the examples
    (open leads) at the test window's last cutoff, with earlier test cutoffs added, latest first,
    until there are at least `min_rows` rows. One cutoff, not all of them: leads at a cutoff
    have the ages and recent activity leads have at any one scoring date, which a pool of every
    cutoff (young leads early in the history, old ones late) does not."""
    counts = test_frame.groupby("cutoff").size().sort_index(ascending=False)
    before = counts.cumsum().shift(fill_value=0)
    return test_frame[test_frame["cutoff"].isin(counts.index[(before < min_rows).to_numpy()])]


def reference_distributions(result_targets: dict[str, TargetModel], spec: FeatureSpec,
                            train_frame: pd.DataFrame) -> dict[str, Any]:
    """Binned distributions (`leadq.models.drift.reference_bins`) of the most important numeric
    features over `train_frame`'s rows (`reference_rows` of the test window for time-split
    training), and of each target's probability over its rows that are examples for it (leads
    still open for it, as scored), kept with the model so scoring reports drift (PSI)."""
    numeric = set(spec.numeric_columns())
    ranked: dict[str, float] = {}
    for tm in result_targets.values():
        for name, value in tm.importances.items():
            if name in numeric:
                ranked[name] = max(ranked.get(name, -math.inf), float(value))
    top = sorted(ranked, key=lambda n: (-ranked[n], n))[:REFERENCE_TOP_FEATURES]
    features = {name: reference_bins(train_frame[name].to_numpy(dtype=float)) for name in top}
    scores = score_features(
        {t: tm.model for t, tm in result_targets.items()}, spec, train_frame
    )
    open_for = {f"p_{t}": train_frame[f"label_{t}"].notna().to_numpy() for t in result_targets}
    reference = {
        "rows": int(len(train_frame)),
        "features": features,
        "scores": {c: reference_bins(scores[c].to_numpy(dtype=float)[open_for[c]]) for c in scores},
    }
    if "cutoff" in train_frame:
        cutoffs = pd.to_datetime(train_frame["cutoff"], utc=True)
        reference["cutoffs"] = [cutoffs.min().isoformat(), cutoffs.max().isoformat()]
    return reference


def train_models(
    examples: pd.DataFrame,
    spec: FeatureSpec,
    config: PipelineConfig,
    oracle: OracleFn | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Fit, select, calibrate and evaluate one model per target on time-split examples.

    `examples` has `lead_id`, `cutoff`, the spec's feature columns and `label_<target>` (NaN:
    not an example for that target). Cutoffs are split in time order (see `split_cutoffs`);
    per target each candidate is fitted on train, the lowest validation log loss wins, it is
    calibrated on validation (`config.candidates.calibration`), its decision threshold is
    chosen on validation (`config.candidates.threshold_rule`) and it is scored once on test.
    Same examples, config and seed give the same metrics.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.candidates.threads, user_api="openmp"):
        return _train_models(examples, spec, config, oracle, progress)


def progress_ticker(progress: ProgressCallback | None, total: int) -> Callable[[str], None]:
    """A callback that reports each finished step to `progress` as (step, steps done, total)."""
    done = 0

    def tick(step: str) -> None:
        nonlocal done
        if progress is not None:
            progress(step, done, total)
        done += 1

    return tick


def _train_models(examples, spec, config, oracle, progress) -> TrainResult:
    _check_columns(examples, spec, config.targets)
    if examples.empty:
        raise BadInputError("no training examples: the history has no leads at the cutoffs")
    examples, window, split = split_examples(
        examples, (config.split.train, config.split.validation, config.split.test),
        gap_days=config.gap_days(), horizon_days=config.horizon_days,
    )
    frames = {w: examples[window == w] for w in WINDOWS}
    # Empty windows and targets without positives are their own errors, not a leakage finding.
    for target in config.targets:
        for name, frame in frames.items():
            check_window(frame[f"label_{target}"].dropna().to_numpy(dtype=float), name, target,
                          config.candidates.min_positives)
    audit = run_audit(frames["train"], spec.numeric_columns(), spec.categorical_columns(),
                      config.targets, config.audit, config.seed, source="training window")

    n_candidates = len(build_candidates(spec, config.candidates, config.seed))
    total = len(config.targets) * (n_candidates + 1)
    tick = progress_ticker(progress, total)

    targets = {
        t: _fit_target(t, frames, spec, config, oracle, tick) for t in config.targets
    }
    if progress is not None:
        progress("models trained", total, total)
    return TrainResult(
        targets=targets,
        spec=spec,
        split=split,
        test_examples=frames["test"].reset_index(drop=True),
        train_sample=frames["train"].head(5).reset_index(drop=True),
        window_rows={w: int(len(f)) for w, f in frames.items()},
        reference=reference_distributions(targets, spec, reference_rows(frames["test"])),
        audit=audit,
    )
