"""Training: per target, fit the candidates, pick one on validation, calibrate, set a threshold,
evaluate once on test; then log the run to MLflow, register the model and run the quality gate.

`train_models` is pure (DataFrames in, a TrainResult out); `run_training` is the whole step the
CLI calls. Nothing prints: progress goes through an optional callback.
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from leadq.features.split import WINDOWS, CutoffSplit, split_cutoffs

ProgressCallback = Callable[[str, int, int], None]
"""Called as progress(step_description, steps_done, steps_total)."""

OracleFn = Callable[[pd.DataFrame, str], np.ndarray]
"""Given examples (lead_id, cutoff, ...) and a target, the generator's true probabilities."""

REFERENCE_TOP_FEATURES = 10
LEAD_TABLE_FILE = "lead_table.json"


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
    """How the lead-level table was read (`leadq.data.lead_table`), logged so scoring reads it alike."""

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


def _check_window(y: np.ndarray, window: str, target: str, minimum: int) -> None:
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
    base = log_loss(y, model.predict_proba(X)[:, 1], labels=labels)
    out = {}
    for name in X.columns:
        column = X[name]
        if column.nunique(dropna=False) <= 1:
            out[name] = 0.0
            continue
        losses = []
        for _ in range(repeats):
            shuffled = X.assign(**{name: column.to_numpy()[rng.permutation(len(X))]})
            losses.append(log_loss(y, model.predict_proba(shuffled)[:, 1], labels=labels))
        out[name] = float(np.mean(losses) - base)
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
        _check_window(y, window, target, config.candidates.min_positives)
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


def reference_distributions(result_targets: dict[str, TargetModel], spec: FeatureSpec,
                            train_frame: pd.DataFrame) -> dict[str, Any]:
    """Training-window binned distributions (`leadq.models.drift.reference_bins`) of the most important
    numeric features and of each target's probability, kept with the model so scoring can
    report drift (PSI)."""
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
    return {
        "rows": int(len(train_frame)),
        "features": features,
        "scores": {c: reference_bins(scores[c].to_numpy(dtype=float)) for c in scores},
    }


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


def _ticker(progress: ProgressCallback | None, total: int) -> Callable[[str], None]:
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
    examples = examples.assign(cutoff=pd.to_datetime(examples["cutoff"], utc=True))
    examples = examples.sort_values(["cutoff", "lead_id"], kind="stable").reset_index(drop=True)
    split = split_cutoffs(
        list(examples["cutoff"].unique()),
        (config.split.train, config.split.validation, config.split.test),
        gap_days=config.gap_days(),
        horizon_days=config.horizon_days,
    )
    window = split.window_of(examples["cutoff"])
    frames = {w: examples[window == w] for w in WINDOWS}
    audit = run_audit(frames["train"], spec.numeric_columns(), spec.categorical_columns(),
                      config.targets, config.audit, config.seed, source="training window")

    n_candidates = len(build_candidates(spec, config.candidates, config.seed))
    total = len(config.targets) * (n_candidates + 1)
    tick = _ticker(progress, total)

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
        reference=reference_distributions(targets, spec, frames["train"]),
        audit=audit,
    )


@contextmanager
def terminal_progress(description: str = "training") -> Iterator[ProgressCallback | None]:
    """A rich progress bar callback when stdout is a terminal, else None (for the CLI)."""
    import sys

    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(description, total=1)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update


@dataclass
class TrainingOutcome:
    """What one `run_training` produced: the models, the MLflow run and the gate's decision."""

    result: TrainResult
    run_id: str
    model_uri: str
    version: str
    decision: Any
    tracking_uri: str
    experiment_id: str
    spec: FeatureSpec
    data_report: list[str] = field(default_factory=list)


def synthetic_oracle(truth: pd.DataFrame, horizon_days: int) -> OracleFn:
    """An oracle over the generator's `truth` table (stages without an oracle give NaN)."""
    from leadq.data import synth

    def oracle(rows: pd.DataFrame, target: str) -> np.ndarray:
        if target not in getattr(synth, "ORACLE_STAGES", ("mql", "sql")):
            return np.full(len(rows), np.nan)
        query = rows[["lead_id", "cutoff"]].assign(horizon_days=horizon_days)
        return np.asarray(synth.oracle_probability(truth, query, target), dtype=float)

    return oracle


def log_training(
    result: TrainResult,
    config: PipelineConfig,
    tracking_uri: str,
    fingerprint: dict | None = None,
    data_report: list[str] | None = None,
) -> tuple[str, str, str]:
    """Log one MLflow run (params, resolved config, fingerprint, spec, metrics, plots, model).

    Returns (run_id, model_uri, experiment_id). The store's folders are created here, lazily.
    """
    import mlflow

    from leadq.config import config_to_yaml
    from leadq.models.plots import save_target_plots
    from leadq.tracking.pyfunc import log_scoring_model
    from leadq.tracking.store import ensure_experiment, flatten_params, log_json, scratch_dir, use_tracking_uri

    experiment_id = ensure_experiment(config.experiment_name, tracking_uri)
    params = flatten_params("", {
        k: v for k, v in config.model_dump(mode="json").items()
        if k not in ("features", "data", "lead_table")
    })
    if result.lead_table is not None:  # column names may hold characters params refuse
        params["lead_table.path"] = str(result.lead_table.get("source", ""))[:6000]
    else:
        params.update(flatten_params("data", {"dir": config.data.dir}))
    params["evaluation"] = result.evaluation
    if result.split is not None:
        params.update(flatten_params("split", result.split.summary()))
    params.update({f"rows.{w}": str(n) for w, n in result.window_rows.items()})
    params.update({f"chosen.{t}": tm.chosen for t, tm in result.targets.items()})
    params["n_features"] = str(len(result.spec.feature_columns()))
    with use_tracking_uri(tracking_uri), scratch_dir() as tmp:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.set_tags({"leadq.targets": ",".join(config.targets),
                             "leadq.model_name": config.registry.model_name,
                             "leadq.evaluation": result.evaluation})
            if result.lead_table is not None and result.lead_table.get("sha256"):
                mlflow.set_tag(DATA_HASH_TAG, result.lead_table["sha256"])
            mlflow.log_params(params)
            mlflow.log_metrics({k: float(v) for k, v in result.metrics().items()})
            mlflow.log_text(config_to_yaml(config), "config.yaml")
            log_json(result.spec.model_dump(mode="json"), "feature_spec.json")
            log_json(fingerprint or {}, "data_fingerprint.json")
            log_json(result.thresholds(), "thresholds.json")
            if data_report:
                mlflow.log_text("\n".join(data_report) + "\n", "data_report.txt")
            if result.audit is not None and len(result.audit):
                mlflow.log_text(result.audit.to_csv(index=False), "leakage_audit.csv")
            if result.lead_table is not None:
                log_json(result.lead_table, LEAD_TABLE_FILE)
            for t, tm in result.targets.items():
                plot_paths = save_target_plots(t, tm.y_test, tm.p_test, tm.importances, tmp / "plots")
                for path in plot_paths:
                    mlflow.log_artifact(str(path), artifact_path="plots")
            info = log_scoring_model(
                models=result.models(),
                spec=result.spec,
                thresholds=result.thresholds(),
                reference=result.reference,
                importances={t: {k: float(v) for k, v in tm.importances.items()}
                             for t, tm in result.targets.items()},
                input_example=result.test_examples,
                work_dir=tmp / "model",
            )
    return run.info.run_id, info.model_uri, experiment_id


def register_and_gate(
    result: TrainResult, config: PipelineConfig, run_id: str, model_uri: str, tracking_uri: str
):
    """Register the logged model (alias `challenger`), run the quality gate against the
    champion on this run's test examples, and record the decision on the run as tags."""
    from leadq.tracking.registry import parse_metric, register_version, run_gate
    from leadq.tracking.store import client

    metric = config.registry.promotion_metric
    _, name, target = parse_metric(metric)
    if target not in result.targets or name not in result.targets[target].test:
        raise BadInputError(f"registry.promotion_metric '{metric}' is not a test metric of this run")
    version = register_version(model_uri, config.registry.model_name, tracking_uri)
    if result.evaluation == "cross_validation":
        decision = _gate_on_logged_metric(version, run_id, result.targets[target].test[name], config,
                                          tracking_uri)
    else:
        decision = run_gate(
            version, result.test_examples, result.targets[target].test[name],
            config.registry.model_name, metric, config.registry.margin, tracking_uri,
        )
    mlflow_client = client(tracking_uri)
    for key, value in {**decision.as_tags(), "leadq.registered_version": version}.items():
        mlflow_client.set_tag(run_id, key, value)
    return version, decision


def run_training(
    data,
    config: PipelineConfig,
    tracking_uri: str | None = None,
    progress: ProgressCallback | None = None,
    truth: pd.DataFrame | None = None,
) -> TrainingOutcome:
    """The `leadq train` step: build examples from loaded data, train, log to MLflow,
    register the model and run the quality gate.

    `data` is a `leadq.data.load.LoadedData`; `truth` (synthetic data only) adds the oracle AUC.
    The tracking URI is `tracking_uri`, else `config.tracking_uri`, else
    $MLFLOW_TRACKING_URI, else sqlite:///models/mlflow.db.
    """
    from leadq.features.coverage import drop_constant_features
    from leadq.features.examples import build_examples, infer_attribute_spec, snapshot_cutoffs
    from leadq.tracking.store import resolve_tracking_uri

    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)

    # Overall steps: examples, training (scaled into 1..6), logging, registering.
    total = 9
    report("building training examples", 0, total)
    spec = infer_attribute_spec(data, config.features)
    snapshots = config.snapshots
    cutoffs = snapshot_cutoffs(
        data, snapshots.cadence_days, config.horizon_days, start=snapshots.start, end=snapshots.end
    )
    examples = build_examples(
        data, spec, cutoffs, config.targets, config.horizon_days,
        snapshots.leads_per_cutoff, config.seed,
    )
    spec, coverage = drop_constant_features(examples, spec, getattr(data, "event_columns", None))
    data_report = [*data.report, *coverage]
    oracle = synthetic_oracle(truth, config.horizon_days) if truth is not None else None

    def training_progress(step: str, done: int, steps: int) -> None:
        report(step, 1 + round(6 * done / max(steps, 1)), total)

    result = train_models(examples, spec, config, oracle=oracle, progress=training_progress)
    uri = resolve_tracking_uri(tracking_uri, config.tracking_uri)
    report("logging the run to MLflow", 7, total)
    run_id, model_uri, experiment_id = log_training(
        result, config, uri, fingerprint=data.fingerprint(), data_report=data_report
    )
    report("registering the model and running the quality gate", 8, total)
    version, decision = register_and_gate(result, config, run_id, model_uri, uri)
    report("done", total, total)
    return TrainingOutcome(
        result=result, run_id=run_id, model_uri=model_uri, version=version, decision=decision,
        tracking_uri=uri, experiment_id=experiment_id, spec=spec, data_report=data_report,
    )


def _gate_on_logged_metric(version: str, run_id: str, challenger_value: float,
                           config: PipelineConfig, tracking_uri: str):
    """The quality gate for cross-validated runs: the champion's out-of-fold metric, as logged
    on its run, against the challenger's, when both were cross-validated on the same data (same
    content hash); otherwise not promoted (use `leadq promote`)."""
    from mlflow.exceptions import MlflowException

    from leadq.tracking.registry import CHAMPION, decide
    from leadq.tracking.store import client

    name, metric, margin = config.registry.model_name, config.registry.promotion_metric, config.registry.margin
    mlflow_client = client(tracking_uri)
    try:
        champion = mlflow_client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    if champion is None:
        decision = decide(version, metric, challenger_value, None, None, margin, "no champion yet")
    else:
        run = mlflow_client.get_run(champion.run_id) if champion.run_id else None
        champion_value = run.data.metrics.get(metric) if run is not None else None
        new_hash = mlflow_client.get_run(run_id).data.tags.get(DATA_HASH_TAG)
        old_hash = run.data.tags.get(DATA_HASH_TAG) if run is not None else None
        note = f"champion v{champion.version}"
        if champion_value is None or old_hash is None or old_hash != new_hash:
            champion_value = None
            note = (f"champion v{champion.version} was not cross-validated on the same data, so the "
                    "two cannot be compared; use `leadq promote` to decide")
        decision = decide(version, metric, challenger_value, champion_value, str(champion.version),
                          margin, note)
    if decision.promoted:
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    return decision


DATA_HASH_TAG = "leadq.data_sha256"


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


def _decision_scores(model, X: pd.DataFrame) -> np.ndarray:
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
    for fit_rows, score_rows in folds:
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
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=config.candidates.threads, user_api="openmp"):
        return _train_cross_validated(examples, spec, config, folds, progress, source)


def _train_cross_validated(examples, spec, config, n_folds, progress, source) -> TrainResult:
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    target = config.targets[0]
    label = f"label_{target}"
    needed = ["lead_id", *spec.feature_columns(), label]
    missing = [c for c in needed if c not in examples.columns]
    if missing:
        raise BadInputError(f"training table lacks column(s): {', '.join(missing)}")
    rows = examples[examples[label].notna()].reset_index(drop=True)
    y = rows[label].to_numpy(dtype=float)
    _check_window(y, "whole", target, config.candidates.min_positives)
    if min(y.sum(), len(y) - y.sum()) < n_folds:
        raise BadInputError(f"{source or 'table'}: too few rows of one class for {n_folds} folds")
    audit = run_audit(rows, spec.numeric_columns(), spec.categorical_columns(), [target],
                      config.audit, config.seed, source=source)
    folds = list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=config.seed)
                 .split(np.zeros(len(y)), y))
    X = rows[spec.feature_columns()]
    candidates = build_candidates(spec, config.candidates, config.seed)
    total = (len(candidates) + 1) * n_folds + n_folds + 2
    tick = _ticker(progress, total)

    scores, losses, last_models = {}, {}, {}
    for name, pipeline in candidates.items():
        oof = np.empty(len(y))
        for k, (fit_rows, score_rows) in enumerate(folds):
            tick(f"{target}: {name}, fold {k + 1} of {n_folds}")
            model = clone(pipeline).fit(X.iloc[fit_rows], y[fit_rows])
            oof[score_rows] = _decision_scores(model, X.iloc[score_rows])
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
