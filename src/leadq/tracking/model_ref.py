"""One model reference, resolved once: the alias is read a single time, and the version it named
then is the one loaded, reported and written beside the scores (an alias moved during a run
cannot label one version's scores with another's number).

References: `NAME@ALIAS`, `NAME/VERSION`, `NAME` (its champion), `models:/...`, `runs:/RUN/model`.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.exceptions import MlflowException

from leadq.tracking.pyfunc import ModelArtifacts, load_model_artifacts
from leadq.tracking.registry import model_version
from leadq.tracking.store import resolve_tracking_uri, use_tracking_uri
from leadq.core.errors import ModelNotFoundError

DEFAULT_MODEL = "lead-quality@champion"
CONFIG_ARTIFACT = "config.yaml"
LEAD_TABLE_ARTIFACT = "lead_table.json"
TEST_PREDICTIONS_ARTIFACT = "test_predictions.parquet"


@dataclass(frozen=True)
class ModelRef:
    """A model reference resolved to one exact model.

    `uri` is pinned (`models:/NAME/VERSION` for a registered model, whatever alias was asked
    for); `name` is the registered name ("" for a run URI); `version` the version number (the
    run URI itself for an unregistered model); `run_id` the run that logged it, when known.
    """

    uri: str
    name: str
    version: str
    run_id: str | None
    tracking_uri: str

    @property
    def label(self) -> str:
        """`NAME v3` for a registered version, else the URI."""
        return f"{self.name} v{self.version}" if self.name else self.uri


def parse_model_ref(ref: str | None) -> tuple[str, str, str]:
    """(model URI, registered name, version-or-alias) for NAME@ALIAS, NAME/VERSION, models:/ or runs:/."""
    ref = ref or DEFAULT_MODEL
    if ref.startswith("runs:/") or ref.startswith("file:") or ref.startswith("/"):
        return ref, "", ref
    rest = ref.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return f"models:/{name}@{alias}", name, alias
    if "/" in rest:
        name, version = rest.rsplit("/", 1)
        return f"models:/{name}/{version}", name, version
    return f"models:/{rest}@champion", rest, "champion"


def resolve_model_ref(ref: str | None, tracking_uri: str | None = None) -> ModelRef:
    """Resolve a reference against the store once; a missing name, alias or version is a
    one-line `ModelNotFoundError` listing what exists."""
    tracking_uri = resolve_tracking_uri(tracking_uri)
    uri, name, version_or_alias = parse_model_ref(ref)
    if name:
        found = model_version(name, version_or_alias, tracking_uri)
        return ModelRef(uri=f"models:/{name}/{found.version}", name=name, version=str(found.version),
                        run_id=found.run_id, tracking_uri=tracking_uri)
    run_id = uri.removeprefix("runs:/").split("/", 1)[0] if uri.startswith("runs:/") else None
    return ModelRef(uri=uri, name="", version=version_or_alias, run_id=run_id, tracking_uri=tracking_uri)


def load_artifacts(model: ModelRef) -> ModelArtifacts:
    """The resolved model's spec, thresholds, reference and importances (downloaded once)."""
    with use_tracking_uri(model.tracking_uri):
        try:
            return load_model_artifacts(model.uri, model.tracking_uri)
        except OSError as exc:  # a store whose files were removed
            raise ModelNotFoundError(f"model '{model.uri}' cannot be loaded: {exc}") from None


def load_pyfunc(model: ModelRef):
    """The resolved model as an MLflow pyfunc."""
    with use_tracking_uri(model.tracking_uri):
        try:
            return mlflow.pyfunc.load_model(model.uri)
        except OSError as exc:
            raise ModelNotFoundError(f"model '{model.uri}' cannot be loaded: {exc}") from None


def _run_artifact_text(model: ModelRef, artifact: str) -> str | None:
    if not model.run_id:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="leadq-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=model.run_id, artifact_path=artifact, dst_path=tmp, tracking_uri=model.tracking_uri
            )
            return Path(path).read_text(encoding="utf-8")
    except (MlflowException, OSError):
        return None


def logged_test_predictions(model: ModelRef):
    """The test window as the model scored it at training (`TrainResult.test_predictions`), or
    None for a model logged before training kept it."""
    import pandas as pd

    if not model.run_id:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="leadq-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=model.run_id, artifact_path=TEST_PREDICTIONS_ARTIFACT, dst_path=tmp,
                tracking_uri=model.tracking_uri)
            return pd.read_parquet(path)
    except (MlflowException, OSError):
        return None


def logged_config_doc(model: ModelRef) -> dict[str, Any] | None:
    """The resolved config logged with the model's training run, as a dict (None when absent)."""
    text = _run_artifact_text(model, CONFIG_ARTIFACT)
    return None if text is None else yaml.safe_load(text)


def logged_lead_table_doc(model: ModelRef) -> dict[str, Any] | None:
    """How the model's lead-level table was read (None: a model trained on the three tables)."""
    text = _run_artifact_text(model, LEAD_TABLE_ARTIFACT)
    return None if text is None else json.loads(text)


def spark_udf(spark, model: ModelRef, result_type):
    """The resolved model as a Spark UDF returning `result_type` (loaded once per executor worker)."""
    with use_tracking_uri(model.tracking_uri):  # the driver resolves the URI and ships the model
        return mlflow.pyfunc.spark_udf(spark, model.uri, result_type=result_type, env_manager="local")


def logged_run_data(model: ModelRef) -> dict[str, dict]:
    """The params and metrics of the run that logged the model (empty for an unknown run)."""
    if not model.run_id:
        return {"params": {}, "metrics": {}}
    run = mlflow.MlflowClient(tracking_uri=model.tracking_uri).get_run(model.run_id)
    return {"params": dict(run.data.params), "metrics": dict(run.data.metrics)}
