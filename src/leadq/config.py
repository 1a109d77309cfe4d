"""The pipeline config: every knob of a training run, typed, with a documented default.

A run is described by a YAML file under `pipelines/` (see `pipelines/default.yaml`, which writes
every default out), not by code edits. `load_config` turns any validation problem into a one-line
`BadInputError` that names the offending key.
"""

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadq.core.errors import BadInputError
from leadq.core.yaml_model import read_yaml, validate_model
from leadq.features.spec import FeatureSpec
from leadq.data.mapping import DataMapping
from leadq.features.lead_table import LeadTableConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    """Where the three tables live and how their columns map onto the contract."""

    dir: str = Field(default="data/demo", description="Folder with leads, events and outcomes, or a database URL.")
    mapping: DataMapping = Field(
        default_factory=DataMapping,
        description="The mapping itself, or the path of a mapping YAML file (in a config file: relative "
        "to the file's folder, else to the working directory), e.g. one of pipelines/sources/.",
    )

    @field_validator("mapping", mode="before")
    @classmethod
    def _mapping_from_file(cls, value):
        return read_yaml(Path(value).expanduser()) if isinstance(value, str) else value


class SnapshotConfig(_Section):
    """The training cutoffs: one every `cadence_days` over the history range."""

    cadence_days: int = Field(default=7, gt=0, description="Days between two cutoffs.")
    start: datetime | None = Field(
        default=None, description="First cutoff no earlier than this (default: data start)."
    )
    end: datetime | None = Field(
        default=None, description="Treat the data as known up to here (default: data end)."
    )
    leads_per_cutoff: int | None = Field(
        default=4000, gt=0,
        description="Leads sampled per cutoff (None keeps all); keeps `leadq demo` fast.",
    )


class SplitConfig(_Section):
    """Fractions of the cutoffs, in time order, for the train, validation and test windows."""

    train: float = Field(default=0.6, gt=0, lt=1)
    validation: float = Field(default=0.2, gt=0, lt=1)
    test: float = Field(default=0.2, gt=0, lt=1)
    gap_days: int | None = Field(
        default=None, ge=0,
        description="Days between windows; None means horizon_days (the smallest allowed).",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> "SplitConfig":
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must be 1, got {total:g}")
        return self


class LogisticConfig(_Section):
    """The regularised logistic-regression baseline."""

    enabled: bool = True
    C: float = Field(default=0.5, gt=0, description="Inverse L2 strength.")
    max_iter: int = Field(default=2000, gt=0)


class GradientBoostingConfig(_Section):
    """HistGradientBoostingClassifier parameters (early stopping off: reproducible, no inner split)."""

    enabled: bool = True
    learning_rate: float = Field(default=0.06, gt=0)
    max_iter: int = Field(default=200, gt=0)
    max_leaf_nodes: int = Field(default=15, ge=2)
    min_samples_leaf: int = Field(default=40, ge=1)
    l2_regularization: float = Field(default=1.0, ge=0)
    max_features: float = Field(default=1.0, gt=0, le=1)
    monotone: bool = Field(
        default=True,
        description="Constrain features whose direction is obvious (see candidates.monotone_directions), "
        "so more buying behaviour never lowers a score.",
    )


class CandidatesConfig(_Section):
    """The candidate models, their shared preprocessing, calibration and thresholds."""

    logistic: LogisticConfig = Field(default_factory=LogisticConfig)
    hist_gradient_boosting: GradientBoostingConfig = Field(default_factory=GradientBoostingConfig)
    min_category_frequency: int = Field(
        default=20, ge=1, description="Category levels seen fewer times are pooled as 'infrequent'."
    )
    max_categories: int = Field(default=30, ge=2, le=254, description="Levels kept per column.")
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    threshold_rule: Literal["f1", "expected_value"] = Field(
        default="f1",
        description="How the default decision threshold is chosen on validation: max F1, or max "
        "expected value (value_per_conversion per true positive, cost_per_contact per lead passed).",
    )
    min_positives: int = Field(
        default=20, ge=1, description="Fewest positives a window needs for a target."
    )
    importance_rows: int = Field(
        default=500, ge=100, description="Validation rows used for permutation importance."
    )
    threads: int = Field(
        default=1, ge=1,
        description="OpenMP threads for gradient boosting while training. One is the robust default "
        "on shared machines, where spinning OpenMP threads slow many small fits down tenfold.",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> "CandidatesConfig":
        if not (self.logistic.enabled or self.hist_gradient_boosting.enabled):
            raise ValueError("enable at least one candidate")
        return self


MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
TARGET_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryConfig(_Section):
    """The registered model and the quality gate that decides who is champion."""

    model_name: str = Field(
        default="lead-quality", min_length=1,
        description="Letters, digits, '.', '_' and '-' (MLflow refuses '/' and ':'; '@' separates an alias).",
    )
    promotion_metric: str = Field(
        default="test_log_loss_sql",
        pattern=r"^test_[a-z_]+_[a-z0-9]+$",
        description="test_<metric>_<target>; lower is better for log_loss, brier and ece.",
    )
    margin: float = Field(
        default=0.001, ge=0, description="How much better the challenger must be to take over."
    )

    @field_validator("model_name")
    @classmethod
    def _registrable(cls, name: str) -> str:
        if not MODEL_NAME_PATTERN.match(name) or ".." in name:
            raise ValueError(f"{name!r} cannot be a registered model name (use letters, digits, '.', '_', '-')")
        return name


class MonitorConfig(_Section):
    """`leadq monitor`: how issued scores are judged once their outcomes are known (see
    `leadq.monitor.verdict` for the rules these settings feed)."""

    bootstrap_resamples: int = Field(
        default=500, ge=50, description="Bootstrap resamples of leads behind every interval."
    )
    interval: float = Field(default=0.95, gt=0.5, lt=1, description="Coverage of the intervals.")
    calibration_tolerance: float = Field(
        default=0.2, gt=0, lt=1,
        description="Calibration is off when the interval of observed / predicted conversions "
        "lies wholly outside 1 +- this.",
    )
    psi_limit: float = Field(default=0.25, gt=0, description="A scoring run drifted when its PSI is over this.")
    psi_runs: int = Field(default=3, ge=1, description="Drifted runs in a row that mean retrain.")
    psi_features: bool = Field(
        default=False,
        description="Count the features' PSI too, not only the scores'. Off by default: an open "
        "pool's lead ages and recency drift by themselves as it grows old.",
    )
    retrain_exit_code: bool = Field(
        default=True, description="Exit with code 7 when a model version's verdict is retrain (false: 0)."
    )


class AuditConfig(_Section):
    """The leakage audit run before every training: one column that predicts the label almost
    alone stops the run unless it is listed in `allow`."""

    enabled: bool = True
    max_auc: float = Field(
        default=0.90, gt=0.5, le=1, description="Limit on a single column's ROC AUC, max(AUC, 1-AUC)."
    )
    max_near_pure_share: float = Field(
        default=0.30, gt=0, le=1,
        description="Limit on the share of rows in near-pure levels of a categorical column.",
    )
    min_level_rows: int = Field(default=30, ge=1, description="Rows a level needs to count as near-pure.")
    purity_ratio: float = Field(
        default=0.1, gt=0, lt=1,
        description="A level is near-pure when its rate of either class is at most this share of "
        "that class's base rate.",
    )
    allow: list[str] = Field(default_factory=list, description="Columns allowed over the limits.")
    max_rows: int = Field(default=50_000, ge=1000, description="Rows sampled for the audit.")


class PipelineConfig(_Section):
    """Everything a training run needs; each value has a default, see `pipelines/default.yaml`."""

    data: DataConfig = Field(default_factory=DataConfig)
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    targets: list[str] = Field(default_factory=lambda: ["mql", "sql"], min_length=1)
    horizon_days: int = Field(default=30, gt=0)
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    seed: int = 42
    experiment_name: str = Field(default="leadq", min_length=1)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    tracking_uri: str | None = Field(
        default=None,
        description="None: $MLFLOW_TRACKING_URI, else sqlite:///models/mlflow.db.",
    )
    value_per_conversion: float = Field(default=1000.0, ge=0)
    cost_per_contact: float = Field(default=50.0, ge=0)
    lead_table: LeadTableConfig | None = Field(
        default=None, description="Train on a lead-level table instead of the three tables."
    )
    audit: AuditConfig = Field(default_factory=AuditConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    @model_validator(mode="after")
    def _check_cross_fields(self) -> "PipelineConfig":
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("targets repeat")
        bad = [t for t in self.targets if not TARGET_PATTERN.match(t)]
        if bad:
            raise ValueError(f"target {bad[0]!r} is not a stage name (lower-case letters, digits and '_', "
                             "starting with a letter)")
        if self.split.gap_days is not None and self.split.gap_days < self.horizon_days:
            raise ValueError(
                f"split.gap_days ({self.split.gap_days}) must be >= horizon_days "
                f"({self.horizon_days}), or labels leak into the next window"
            )
        if self.lead_table is not None and len(self.targets) != 1:
            raise ValueError(
                "a lead_table config needs exactly one target, the label's name (e.g. targets: [converted])"
            )
        target = self.registry.promotion_metric.rsplit("_", 1)[-1]
        if target not in self.targets:
            raise ValueError(
                f"registry.promotion_metric names target '{target}', not one of {self.targets}"
            )
        return self

    def gap_days(self) -> int:
        """Days between split windows: `split.gap_days`, or `horizon_days` when unset."""
        return self.split.gap_days if self.split.gap_days is not None else self.horizon_days


def parse_config(raw: dict[str, Any] | None, source: str = "config", base_dir: Path | None = None) -> PipelineConfig:
    """Validate a config mapping; any problem becomes one BadInputError line naming the key.

    A `data.mapping` given as a file path is looked up in `base_dir` first (the config file's
    folder), then from the working directory."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadInputError(f"{source}: expected a mapping of keys to values at the top level")
    data = raw.get("data")
    if base_dir is not None and isinstance(data, dict) and isinstance(data.get("mapping"), str):
        beside = Path(base_dir) / Path(data["mapping"]).expanduser()
        if beside.is_file():
            raw = {**raw, "data": {**data, "mapping": read_yaml(beside)}}
    return validate_model(raw, PipelineConfig, source)


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Read a pipeline YAML file (None: all defaults) into a validated PipelineConfig."""
    if path is None:
        return PipelineConfig()
    return parse_config(read_yaml(Path(path)), source=str(path), base_dir=Path(path).parent)


def config_to_yaml(config: PipelineConfig) -> str:
    """The fully resolved config as YAML (logged with each run); a database URL in `data.dir`
    loses its password."""
    from leadq.data.database import redact_url

    raw = config.model_dump(mode="json")
    raw["data"]["dir"] = redact_url(raw["data"]["dir"])
    return yaml.safe_dump(raw, sort_keys=False)
