"""The `train` step from files: config, data folder and tracking URI in, a registered model out."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.config import PipelineConfig, load_config
from leadq.core.yaml_model import load_yaml_model
from leadq.data import synth
from leadq.data.database import data_location
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.data.attributes import report_unparseable_numbers
from leadq.features.coverage import drop_constant_features
from leadq.features.lead_table import load_lead_table
from leadq.features.examples import build_examples, check_targets_reached, infer_attribute_spec, snapshot_cutoffs
from leadq.models.cross_validation import train_cross_validated
from leadq.models.train import OracleFn, ProgressCallback, train_models
from leadq.tracking.store import resolve_tracking_uri
from leadq.tracking.store_access import open_store
from leadq.tracking.training_run import TrainingOutcome, log_training, register_and_gate

TRUTH_FILE = "truth.parquet"


def resolve_data_dir(data_dir: Path | str | None, config: PipelineConfig) -> Path | str:
    """The data folder or database URL: the `--data` flag, else the config's `data.dir`."""
    return data_location(data_dir if data_dir is not None else config.data.dir)


def train_from_files(
    config_path: Path | None = None,
    data_dir: Path | None = None,
    tracking_uri: str | None = None,
    progress: ProgressCallback | None = None,
    config: PipelineConfig | None = None,
    mapping_path: Path | None = None,
) -> TrainingOutcome:
    """Load the config and data, train every target, log, register and gate.

    When the data folder holds the generator's `truth.parquet`, the oracle AUC is reported too.
    A config with a `lead_table` section trains on that table instead (`--data` is then the file;
    see `train_lead_table`). `mapping_path` (a YAML `DataMapping`, `--mapping`) replaces the
    config's `data.mapping`; the run logs the mapping and the data folder it read (in its
    config), so `leadq predict` and `leadq compare` read alike.
    """
    config = config or load_config(config_path)
    if mapping_path is not None:
        mapping = load_yaml_model(mapping_path, DataMapping)
        config = config.model_copy(update={"data": config.data.model_copy(update={"mapping": mapping})})
    # The store is checked (and created) before any work: a wrong URI must not cost a training.
    tracking_uri = resolve_tracking_uri(tracking_uri, config.tracking_uri)
    store_notes = open_store(tracking_uri, create=True)
    if config.lead_table is not None:  # one row per lead, a label column, no events
        outcome = train_lead_table(config, data_dir, tracking_uri=tracking_uri, progress=progress)
        outcome.data_report = [*store_notes, *outcome.data_report]
        return outcome
    if data_dir is not None and Path(data_dir).is_file():
        raise BadInputError(f"{data_dir}: is a single file; to train on a lead-level table, give a "
                            "config with a 'lead_table' section (id_column, label_column)")
    folder = resolve_data_dir(data_dir, config)
    config = config.model_copy(update={"data": config.data.model_copy(update={"dir": str(folder)})})
    data = load_data(folder, config.data.mapping)
    truth_path = folder / TRUTH_FILE if isinstance(folder, Path) else None  # generated folders only
    truth = pd.read_parquet(truth_path) if truth_path is not None and truth_path.is_file() else None
    outcome = run_training(data, config, tracking_uri=tracking_uri, progress=progress, truth=truth)
    outcome.data_report = [*store_notes, *outcome.data_report]
    return outcome


def synthetic_oracle(truth: pd.DataFrame, horizon_days: int) -> OracleFn:
    """An oracle over the generator's `truth` table (stages without an oracle give NaN)."""
    def oracle(rows: pd.DataFrame, target: str) -> np.ndarray:
        if target not in getattr(synth, "ORACLE_STAGES", ("mql", "sql")):
            return np.full(len(rows), np.nan)
        query = rows[["lead_id", "cutoff"]].assign(horizon_days=horizon_days)
        return np.asarray(synth.oracle_probability(truth, query, target), dtype=float)

    return oracle


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
    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)

    # Overall steps: examples, training (scaled into 1..6), logging, registering.
    total = 9
    report("building training examples", 0, total)
    check_targets_reached(data, config.targets)
    spec = infer_attribute_spec(data, config.features)
    report_unparseable_numbers(data.con, data.sources["leads"], spec.numeric_attributes, data.report)
    snapshots = config.snapshots
    cutoffs = snapshot_cutoffs(
        data, snapshots.cadence_days, config.horizon_days, start=snapshots.start, end=snapshots.end
    )
    examples = build_examples(
        data, spec, cutoffs, config.targets, config.horizon_days,
        snapshots.leads_per_cutoff, config.seed,
    )
    # What the export cannot feed (no events of a type, an absent column, an empty attribute)
    # leaves the spec the model is trained, logged and scored with.
    spec, coverage = drop_constant_features(examples, spec, getattr(data, "event_columns", None))
    data_report = [*data.report, *coverage]
    oracle = synthetic_oracle(truth, config.horizon_days) if truth is not None else None

    def training_progress(step: str, done: int, steps: int) -> None:
        report(step, 1 + round(6 * done / max(steps, 1)), total)

    result = train_models(examples, spec, config, oracle=oracle, progress=training_progress)
    uri = resolve_tracking_uri(tracking_uri, config.tracking_uri)
    report("logging the run to MLflow", 7, total)
    fingerprint = data.fingerprint()
    run_id, model_uri, experiment_id = log_training(
        result, config, uri, fingerprint=fingerprint, data_report=data_report
    )
    report("registering the model and running the quality gate", 8, total)
    version, decision = register_and_gate(result, config, run_id, model_uri, uri, fingerprint)
    report("done", total, total)
    return TrainingOutcome(
        result=result, run_id=run_id, model_uri=model_uri, version=version, decision=decision,
        tracking_uri=uri, experiment_id=experiment_id, spec=spec, data_report=data_report,
    )


def train_lead_table(
    config: PipelineConfig,
    path: str | Path | None = None,
    tracking_uri: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
):
    """The `leadq train` step for a lead table: audit, cross-validate (or split by time when the
    config names a timestamp column), fit on all rows, log to MLflow, register and gate.

    Returns a `TrainingOutcome`; its `result.extra_metrics` holds the CV figures
    (`cv_roc_auc_mean`, `cv_roc_auc_std`, `cv_brier_mean`, ..., and the same with `baseline_`
    for the plain HistGradientBoosting baseline on the same folds).
    """
    table = load_lead_table(config, path)
    examples = table.examples()
    if table.timestamps is not None:
        result = train_models(examples, table.spec, config, progress=progress)
    else:
        result = train_cross_validated(examples, table.spec, config, config.lead_table.cv_folds,
                                       progress=progress, source=table.source)
    result.lead_table = table.doc
    uri = resolve_tracking_uri(tracking_uri, config.tracking_uri)
    fingerprint = {"lead_table": {k: table.doc[k] for k in ("source", "sha256", "rows")},
                   "positives": int(table.y.sum())}
    run_id, model_uri, experiment_id = log_training(result, config, uri, fingerprint=fingerprint,
                                                    data_report=table.report)
    version, decision = register_and_gate(result, config, run_id, model_uri, uri, fingerprint)
    return TrainingOutcome(
        result=result, run_id=run_id, model_uri=model_uri, version=version, decision=decision,
        tracking_uri=uri, experiment_id=experiment_id, spec=table.spec, data_report=table.report,
    )
