"""The `train` step from files: config, data folder and tracking URI in, a registered model out."""

from pathlib import Path

import pandas as pd

from leadq.config import PipelineConfig, load_config
from leadq.core.yaml_model import load_yaml_model
from leadq.data.mapping import DataMapping
from leadq.data.load import load_data
from leadq.models.train import ProgressCallback, TrainingOutcome, run_training

TRUTH_FILE = "truth.parquet"


def resolve_data_dir(data_dir: Path | None, config: PipelineConfig) -> Path:
    """The data folder: the `--data` flag, else the config's `data.dir`."""
    return Path(data_dir) if data_dir is not None else Path(config.data.dir)


def train_from_files(
    config_path: Path | None = None,
    data_dir: Path | None = None,
    tracking_uri: str | None = None,
    progress: ProgressCallback | None = None,
    config: PipelineConfig | None = None,
    mapping_path: Path | None = None,
) -> TrainingOutcome:
    """Load the config and data, train every target, log, register and gate.

    `mapping_path` (a YAML `DataMapping`, `--mapping`) replaces the config's `data.mapping`; the
    mapping used is logged with the run (in its config), so scoring reads alike.

    When the data folder holds the generator's `truth.parquet`, the oracle AUC is reported too.
    A config with a `lead_table` section trains on that table instead (`--data` is then the file;
    see `leadq.data.lead_table.train_lead_table`).
    """
    config = config or load_config(config_path)
    if mapping_path is not None:
        mapping = load_yaml_model(mapping_path, DataMapping)
        config = config.model_copy(update={"data": config.data.model_copy(update={"mapping": mapping})})
    if config.lead_table is not None:  # one row per lead, a label column, no events
        from leadq.data.lead_table import train_lead_table

        return train_lead_table(config, data_dir, tracking_uri=tracking_uri, progress=progress)
    if data_dir is not None and Path(data_dir).is_file():
        from leadq.core.errors import BadInputError

        raise BadInputError(f"{data_dir}: is a single file; to train on a lead-level table, give a "
                            "config with a 'lead_table' section (id_column, label_column)")
    folder = resolve_data_dir(data_dir, config)
    # The run logs the folder it read, so `leadq compare` finds it again.
    config = config.model_copy(update={"data": config.data.model_copy(update={"dir": str(folder)})})
    data = load_data(folder, config.data.mapping)
    truth_path = folder / TRUTH_FILE
    truth = pd.read_parquet(truth_path) if truth_path.is_file() else None
    return run_training(data, config, tracking_uri=tracking_uri, progress=progress, truth=truth)
