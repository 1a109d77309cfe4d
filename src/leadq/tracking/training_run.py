"""One training run in MLflow: log it (params, config, fingerprint, spec, metrics, plots, the
pyfunc), register the model and run the quality gate, recording the decision on the run."""

from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from leadq.config import PipelineConfig, config_to_yaml
from leadq.data.database import redact_url
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.models.plots import save_target_plots
from leadq.models.train import TrainResult
from leadq.tracking.model_ref import CONFIG_ARTIFACT, LEAD_TABLE_ARTIFACT, TEST_PREDICTIONS_ARTIFACT
from leadq.tracking.pyfunc import log_scoring_model
from leadq.tracking.registry import CHAMPION, decide, parse_metric, register_version, run_gate
from leadq.tracking.registry_record import describe_registration
from leadq.tracking.registry_text import training_facts
from leadq.tracking.store import client, ensure_experiment, flatten_params, log_json, scratch_dir, use_tracking_uri

DATA_HASH_TAG = "leadq.data_sha256"


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
    experiment_id = ensure_experiment(config.experiment_name, tracking_uri)
    params = flatten_params("", {
        k: v for k, v in config.model_dump(mode="json").items()
        if k not in ("features", "data", "lead_table")
    })
    if result.lead_table is not None:  # column names may hold characters params refuse
        params["lead_table.path"] = str(result.lead_table.get("source", ""))[:6000]
    else:
        params.update(flatten_params("data", {"dir": redact_url(config.data.dir)}))
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
            mlflow.log_text(config_to_yaml(config), CONFIG_ARTIFACT)
            log_json(result.spec.model_dump(mode="json"), "feature_spec.json")
            log_json(fingerprint or {}, "data_fingerprint.json")
            log_json(result.thresholds(), "thresholds.json")
            if data_report:
                mlflow.log_text("\n".join(data_report) + "\n", "data_report.txt")
            if result.audit is not None and len(result.audit):
                mlflow.log_text(result.audit.to_csv(index=False), "leakage_audit.csv")
            if result.lead_table is not None:
                log_json(result.lead_table, LEAD_TABLE_ARTIFACT)
            for t, tm in result.targets.items():
                plot_paths = save_target_plots(t, tm.y_test, tm.p_test, tm.importances, tmp / "plots")
                for path in plot_paths:
                    mlflow.log_artifact(str(path), artifact_path="plots")
            result.test_predictions().to_parquet(tmp / TEST_PREDICTIONS_ARTIFACT, index=False)
            mlflow.log_artifact(str(tmp / TEST_PREDICTIONS_ARTIFACT))
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
    result: TrainResult, config: PipelineConfig, run_id: str, model_uri: str, tracking_uri: str,
    fingerprint: dict | None = None,
):
    """Register the logged model (alias `challenger`), run the quality gate against the
    champion on this run's test examples, and record the decision on the version (tags and
    description, `leadq.tracking.registry_record`) and on the run as tags."""
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
    describe_registration(training_facts(result, config, fingerprint, run_id), version,
                          decision.promoted, decision.reason, tracking_uri)
    mlflow_client = client(tracking_uri)
    for key, value in {**decision.as_tags(), "leadq.registered_version": version}.items():
        mlflow_client.set_tag(run_id, key, value)
    return version, decision


def _gate_on_logged_metric(version: str, run_id: str, challenger_value: float,
                           config: PipelineConfig, tracking_uri: str):
    """The quality gate for cross-validated runs: the champion's out-of-fold metric, as logged
    on its run, against the challenger's, when both were cross-validated on the same data (same
    content hash); otherwise not promoted (use `leadq promote`)."""
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


