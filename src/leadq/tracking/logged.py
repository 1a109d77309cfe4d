"""What a training run logged about its data, read back for scoring: the data mapping.

Training logs the resolved pipeline config (`config.yaml`) with the model's run; its
`data.mapping` section is how the run read the user's export (files, columns, event rules,
stages, formats). `leadq predict` and `leadq compare` read new exports of the same shape with
it unless `--mapping` says otherwise.
"""

import tempfile
from pathlib import Path

import yaml

from leadq.core.errors import BadInputError
from leadq.core.yaml_model import validate_model
from leadq.data.mapping import DataMapping

CONFIG_ARTIFACT = "config.yaml"


def logged_mapping(run_id: str | None, tracking_uri: str) -> DataMapping | None:
    """The data mapping in the config logged with run `run_id` (None: no run, no config logged,
    or a lead-table run, which has no mapping)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="leadq-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=CONFIG_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri)
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError, yaml.YAMLError):
        return None
    if not isinstance(raw, dict) or raw.get("lead_table"):
        return None
    section = (raw.get("data") or {}).get("mapping")
    if not isinstance(section, dict):
        return None
    try:
        return validate_model(section, DataMapping, f"run {run_id}: {CONFIG_ARTIFACT} data.mapping")
    except BadInputError as exc:
        raise BadInputError(f"{exc.message}; pass --mapping FILE") from None
