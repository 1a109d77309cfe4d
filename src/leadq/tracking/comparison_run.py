"""A comparison in MLflow: one run in the config's experiment holding the table's figures,
the operating points, the scorecards and the report folder."""

from pathlib import Path

import mlflow
from leadq.config import PipelineConfig, config_to_yaml
from leadq.tracking.model_ref import CONFIG_ARTIFACT, ModelRef
from leadq.tracking.store import ensure_experiment, log_json, use_tracking_uri


def log_comparison_run(model: ModelRef, config: PipelineConfig, params: dict[str, str],
                       metrics: dict[str, float], tuned_thresholds: dict, scorecard_name: str,
                       scorecard_yaml: str, folder: Path) -> str:
    """Log a comparison of `model` (params, metrics, config, tuned thresholds, the rules'
    scorecard and every file in `folder`) as a new run; returns its id."""
    experiment_id = ensure_experiment(config.experiment_name, model.tracking_uri)
    with use_tracking_uri(model.tracking_uri):
        with mlflow.start_run(experiment_id=experiment_id, run_name="compare") as run:
            mlflow.set_tags({
                "leadq.kind": "compare", "leadq.model_uri": model.uri,
                "leadq.model_version": model.version, "leadq.model_run_id": model.run_id or "",
                "leadq.scorecard": scorecard_name,
            })
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.log_text(config_to_yaml(config), CONFIG_ARTIFACT)
            log_json(tuned_thresholds, "tuned_thresholds.json")
            mlflow.log_text(scorecard_yaml, "rules_scorecard.yaml")
            mlflow.log_artifacts(str(folder), artifact_path="comparison")
    return run.info.run_id
