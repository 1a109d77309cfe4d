"""What monitoring reads from and writes to MLflow.

Reads, per registered model version: its training run's test metrics, the config logged with
it (horizon, monitoring thresholds), the test window's predictions (`test_predictions.parquet`,
logged by training) and the model's drift reference and thresholds.

Writes, per model version: one run in the training run's experiment (tagged
`leadq.monitor.model_name` / `leadq.monitor.model_version`) holding each scoring run's realized
metrics as a series (step = the run's position, timestamp = its `as_of`), the report and the
tables; and on the model version the tags `realized.<target>.<metric>` (the latest evaluated
scoring run), `realized.as_of`, `monitor.verdict` and `monitor.run_id`, which `leadq models`
shows beside the test metrics.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric

from leadq.config import PipelineConfig, parse_config
from leadq.tracking.model_ref import (
    ModelRef, load_artifacts, logged_config_doc, logged_run_data, logged_test_predictions, resolve_model_ref,
)
from leadq.tracking.store import client

TAGGED_METRICS = ("roc_auc", "pr_auc", "brier", "observed_to_predicted", "calibration_in_the_large",
                  "precision", "recall", "n", "positives")


@dataclass
class VersionFacts:
    """A registered model version as monitoring needs it."""

    model: ModelRef
    experiment_id: str
    test_metrics: dict[str, float]
    config: PipelineConfig | None
    test_predictions: pd.DataFrame | None
    reference: dict
    thresholds: dict[str, float]
    targets: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version


def version_facts(name: str, version: str, tracking_uri: str) -> VersionFacts:
    """Everything monitoring reads about `name` version `version` (ModelNotFoundError when the
    name or version does not exist)."""
    model = resolve_model_ref(f"{name}/{version}", tracking_uri)
    metrics = {k: float(v) for k, v in logged_run_data(model)["metrics"].items() if k.startswith("test_")}
    raw = logged_config_doc(model)
    config = parse_config(raw, source=f"run {model.run_id}: config.yaml") if raw is not None else None
    artifacts = load_artifacts(model)
    experiment_id = client(tracking_uri).get_run(model.run_id).info.experiment_id
    return VersionFacts(
        model=model, experiment_id=experiment_id, test_metrics=metrics, config=config,
        test_predictions=logged_test_predictions(model), reference=artifacts.reference,
        thresholds=artifacts.thresholds, targets=list(artifacts.targets),
    )


def _metric_key(name: str) -> str:
    return name.replace("/", "_")


def log_monitoring(facts: VersionFacts, rows: pd.DataFrame, verdict: dict, files: list[Path],
                   tracking_uri: str) -> str:
    """Log one monitoring run for a model version and tag the version; returns the run id.

    `rows` holds one row per evaluated scoring run and target (`as_of`, `target` and the metric
    columns); `verdict` has `verdict`, `reason` and `latest_as_of`."""
    mlflow_client = client(tracking_uri)
    run = mlflow_client.create_run(
        facts.experiment_id, run_name=f"monitor {facts.name} v{facts.version}",
        tags={"leadq.monitor.model_name": facts.name, "leadq.monitor.model_version": facts.version,
              "leadq.monitor.training_run_id": facts.model.run_id or "", "monitor.verdict": verdict["verdict"]},
    )
    run_id = run.info.run_id
    try:
        metrics = []
        dates = sorted(pd.to_datetime(rows["as_of"], utc=True).unique()) if len(rows) else []
        step_of = {stamp: i for i, stamp in enumerate(dates)}
        for _, row in rows.iterrows():
            stamp = pd.Timestamp(row["as_of"])
            millis = int(stamp.value // 1_000_000)
            for name in TAGGED_METRICS + ("psi_score",):
                value = row.get(name)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    metrics.append(Metric(_metric_key(f"realized_{name}_{row['target']}"), float(value),
                                          millis, step_of[stamp]))
        for start in range(0, len(metrics), 900):  # the store's batch limit is 1000
            mlflow_client.log_batch(run_id, metrics=metrics[start:start + 900])
        mlflow_client.log_param(run_id, "verdict_reason", str(verdict["reason"])[:6000])
        for path in files:
            mlflow_client.log_artifact(run_id, str(path))
        latest = verdict.get("latest_as_of")
        tags = {"monitor.verdict": verdict["verdict"], "monitor.run_id": run_id}
        if latest is not None and not pd.isna(latest):
            tags["realized.as_of"] = pd.Timestamp(latest).isoformat()
            for _, row in rows[pd.to_datetime(rows["as_of"], utc=True) == pd.Timestamp(latest)].iterrows():
                for name in TAGGED_METRICS:
                    value = row.get(name)
                    if value is not None and not pd.isna(value):
                        text = f"{int(value)}" if name in ("n", "positives") else f"{float(value):.4f}"
                        tags[f"realized.{row['target']}.{name}"] = text
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(facts.name, facts.version, key, value)
    except Exception:
        mlflow_client.set_terminated(run_id, "FAILED")
        raise
    mlflow_client.set_terminated(run_id, "FINISHED")
    return run_id
