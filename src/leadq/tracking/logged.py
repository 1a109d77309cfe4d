"""What a training run logged about its data, read back for scoring: the data mapping.

Training logs the resolved pipeline config (`config.yaml`) with the model's run; its
`data.mapping` section is how the run read the user's export (files, columns, event rules,
stages, formats). `leadq predict` and `leadq compare` read new exports of the same shape with
it unless `--mapping` says otherwise.
"""

from leadq.core.errors import BadInputError
from leadq.core.yaml_model import validate_model
from leadq.data.mapping import DataMapping
from leadq.tracking.model_ref import ModelRef, logged_config_doc


def logged_mapping(model: ModelRef) -> DataMapping | None:
    """The data mapping in the config logged with the model's run (None: no run or config, or a
    lead-table run, which reads its table by its own logged description)."""
    raw = logged_config_doc(model)
    if not isinstance(raw, dict) or raw.get("lead_table"):
        return None
    section = (raw.get("data") or {}).get("mapping")
    if not isinstance(section, dict):
        return None
    try:
        return validate_model(section, DataMapping, f"run {model.run_id}: config.yaml data.mapping")
    except BadInputError as exc:
        raise BadInputError(f"{exc.message}; pass --mapping FILE") from None
