"""Lead-level tables: a CRM export with one row per lead and a label column, and no events.

A pipeline config with a `lead_table` section (see `leadq.config.LeadTableConfig`) names the
file, its id column, its label column, an optional timestamp column, the columns never to use
(ids, fields the sales team fills in after the outcome) and the cell values that mean "missing"
(a drop-down left at `Select`, `N/A`, empty). Reading follows the bad-input policy:

- fatal, one line naming the file, the column and the count: a missing id or label column,
  duplicate ids, a label column that is constant or has more than `max_bad_fraction` of its
  values missing or unparseable (labels are 0/1, yes/no or true/false in any case);
- reported and dropped: a few rows with a missing id or an unparseable label.

Every other column is a feature under its own name (spaces and punctuation included): numeric
when 99 % of its filled values parse as numbers (infinities count as missing), else categorical
(normalised and pooled by the candidate pipelines), unless `column_types` says otherwise; plus,
with `count_missing`, the number of missing fields per lead (`missing_fields`).

Entry points: `load_lead_table(config, path=None) -> LeadTable` (features, labels, ids and the
FeatureSpec, for training, `leadq compare` and notebooks), `read_for_scoring(path, doc)` (a new
export read as a model's logged `doc` says) and `read_ids_and_cells` (for rule scorecards).
Training on such a table is `leadq.steps.train.train_lead_table`, scoring
`leadq.scoring.lead_table`, its cross-validation `leadq.models.cross_validation`.
"""

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from leadq.core.errors import BadInputError
from leadq.data.policy import NUMERIC_SHARE_FOR_NUMBER
from leadq.features.spec import FeatureSpec


MISSING_COUNT_COLUMN = "missing_fields"
TRUE_LABELS = frozenset({"1", "1.0", "yes", "y", "true", "t"})
FALSE_LABELS = frozenset({"0", "0.0", "no", "n", "false", "f"})
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class LeadTableConfig(BaseModel):
    """A lead-level table (a CRM export: one row per lead, a label column, no events).

    Set this section to train and score on such a table instead of the three-table snapshots.
    See `leadq.features.lead_table` for how the table is read, typed and validated.
    """

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="CSV or Parquet file; `--data FILE` overrides it. `${VAR}` and `${VAR:-default}` "
        "are expanded from the environment.",
    )
    id_column: str = Field(min_length=1, description="Column that identifies a lead (unique).")
    label_column: str = Field(
        min_length=1, description="Binary outcome: 0/1, yes/no or true/false (any case)."
    )
    timestamp_column: str | None = Field(
        default=None,
        description="When set, the split is by time (split fractions); else stratified k-fold CV.",
    )
    exclude_columns: list[str] = Field(
        default_factory=list, description="Columns never used as features (ids, sales-entered fields)."
    )
    missing_values: list[str] = Field(
        default_factory=lambda: ["Select", "", "N/A"],
        description="Cell values that mean 'missing' (compared trimmed and case-insensitively).",
    )
    column_types: dict[str, Literal["numeric", "categorical"]] = Field(
        default_factory=dict,
        description="Force a column's type; others are numeric when 99 % of their values parse.",
    )
    cv_folds: int = Field(default=5, ge=2, le=20, description="Stratified folds (no timestamp).")
    count_missing: bool = Field(
        default=True, description="Add a feature counting each lead's missing fields."
    )
    max_bad_fraction: float = Field(
        default=0.01, ge=0, lt=1,
        description="Stop when more than this share of labels is missing or unparseable.",
    )



class ConfigWithLeadTable(Protocol):
    """What reading a lead table needs of a pipeline config (`leadq.config.PipelineConfig`)."""

    lead_table: LeadTableConfig | None
    targets: list[str]


@dataclass
class LeadTable:
    """A lead-level table read for modelling.

    `features` holds `spec.feature_columns()` (numerics as float, categoricals as strings or
    None), one row per lead in file order; `y` the 0/1 labels (None when scoring a table
    without its label column); `ids` the lead ids as strings; `raw` the cells as read, with
    missing values as None (what rule scorecards see); `doc` how the table was read (logged
    with a model, so scoring reads a new export the same way).
    """

    features: pd.DataFrame
    y: np.ndarray | None
    spec: FeatureSpec
    ids: pd.Series
    raw: pd.DataFrame
    source: str
    target: str
    doc: dict[str, Any]
    timestamps: pd.Series | None = None
    report: list[str] = field(default_factory=list)

    def examples(self) -> pd.DataFrame:
        """`lead_id`, the features, `label_<target>` (and `cutoff` when timestamped): the shape
        `leadq.models.train` trains on."""
        frame = self.features.copy()
        frame.insert(0, "lead_id", self.ids.to_numpy())
        if self.timestamps is not None:
            frame.insert(1, "cutoff", self.timestamps.to_numpy())
        if self.y is not None:
            frame[f"label_{self.target}"] = self.y.astype(float)
        return frame


def expand_path(text: str) -> str:
    """`${VAR}` and `${VAR:-default}` replaced from the environment (unset, no default: empty)."""
    def replace(match: re.Match) -> str:
        value = os.environ.get(match.group(1))
        return value if value else (match.group(2) or "")

    return os.path.expanduser(_ENV_PATTERN.sub(replace, text))


def resolve_path(config: "ConfigWithLeadTable", path: str | Path | None = None) -> Path:
    """The table's file: `path` (the `--data` flag), else the config's `lead_table.path`."""
    table = _section(config)
    if path is not None:
        return Path(path)
    if not table.path:
        raise BadInputError("config: 'lead_table.path' is empty and no --data FILE was given")
    return Path(expand_path(table.path))


def _section(config: "ConfigWithLeadTable") -> "LeadTableConfig":
    if config.lead_table is None:
        raise BadInputError("config: no 'lead_table' section (id_column, label_column) for a lead-level "
                            "table; pass --config with one (see pipelines/xeducation.yaml)")
    return config.lead_table


def read_raw(path: Path, missing_values: list[str]) -> pd.DataFrame:
    """The file's cells as strings (Parquet values keep their type), missing values as None."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: lead table not found (0 rows)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
        else:
            raise BadInputError(f"{path}: a lead table must be .csv or .parquet")
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the user's file
        raise BadInputError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.duplicated().any():
        name = frame.columns[frame.columns.duplicated()][0]
        raise BadInputError(f"{path}: column '{name}' appears twice in the header ({len(frame)} rows)")
    placeholders = {str(v).strip().lower() for v in missing_values}
    out = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.astype(object).where(values.notna(), None)
            stripped = text.map(lambda v: v.strip() if isinstance(v, str) else v)
            is_missing = stripped.map(lambda v: v is None or (isinstance(v, str) and v.lower() in placeholders))
            out[name] = stripped.where(~is_missing.astype(bool), None)
        else:
            out[name] = values
    return pd.DataFrame(out, index=frame.index)


def parse_labels(values: pd.Series) -> np.ndarray:
    """0/1, yes/no, true/false (any case) as 1.0/0.0; anything else NaN."""
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                      else str(v).strip().lower())
    return np.where(text.isin(TRUE_LABELS), 1.0, np.where(text.isin(FALSE_LABELS), 0.0, np.nan))


def _require(frame: pd.DataFrame, column: str, source: str, role: str) -> None:
    if column not in frame.columns:
        raise BadInputError(f"{source}: {role} column '{column}' is missing in all {len(frame)} rows")


def _labels(frame: pd.DataFrame, table: LeadTableConfig, source: str, report: list[str]) -> np.ndarray:
    column = table.label_column
    y = parse_labels(frame[column])
    n_rows, n_bad = len(y), int(np.isnan(y).sum())
    if n_rows == 0:
        raise BadInputError(f"{source}: column '{column}': the table has no rows (0 rows)")
    if n_bad / n_rows > table.max_bad_fraction:
        examples = ", ".join(repr(v) for v in frame.loc[np.isnan(y), column].dropna().astype(str).unique()[:3])
        seen = f" (e.g. {examples})" if examples else ""
        raise BadInputError(
            f"{source}: column '{column}' has {n_bad} of {n_rows} labels missing or unparseable{seen} "
            f"({n_bad / n_rows:.1%}, limit {table.max_bad_fraction:.1%}); labels must be 0/1, "
            "yes/no or true/false"
        )
    if n_bad:
        report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable '{column}'")
    known = y[~np.isnan(y)]
    if known.min() == known.max():
        raise BadInputError(
            f"{source}: column '{column}' is constant: all {len(known)} labels are {int(known[0])}; "
            "a model needs both outcomes"
        )
    return y


def _ids(frame: pd.DataFrame, column: str, source: str, max_bad: float, report: list[str]) -> pd.Series:
    ids = frame[column].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    ids = ids.where(ids != "", None)
    n_bad = int(ids.isna().sum())
    if n_bad and n_bad / max(len(ids), 1) > max_bad:
        raise BadInputError(f"{source}: column '{column}' has {n_bad} of {len(ids)} ids missing "
                            f"({n_bad / len(ids):.1%}, limit {max_bad:.1%})")
    if n_bad:
        report.append(f"{source}: dropped {n_bad} rows with a missing '{column}'")
    duplicated = ids.notna() & ids.duplicated(keep=False)
    if duplicated.any():
        n_ids = ids[duplicated].nunique()
        raise BadInputError(f"{source}: column '{column}' has {n_ids} duplicate lead ids "
                            f"({int(duplicated.sum())} rows share an id)")
    return ids


def _is_numeric(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    filled = values.dropna()
    if filled.empty:
        return False
    parsed = pd.to_numeric(filled.astype(str), errors="coerce")
    return parsed.notna().sum() / len(filled) >= NUMERIC_SHARE_FOR_NUMBER


def _to_number(values: pd.Series) -> pd.Series:
    number = pd.to_numeric(values.map(lambda v: None if v is None else (str(v) if not isinstance(v, (int, float)) else v)),
                           errors="coerce").astype("float64")
    return number.where(np.isfinite(number))


def _to_category(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return text.astype(object).where(text.notna(), None)


def infer_columns(frame: pd.DataFrame, table: LeadTableConfig, source: str,
                  report: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns: all but the id, label, timestamp and excluded ones."""
    unknown = [c for c in table.column_types if c not in frame.columns]
    if unknown:
        raise BadInputError(f"{source}: column '{unknown[0]}' named in lead_table.column_types is missing "
                            f"in all {len(frame)} rows")
    absent = [c for c in table.exclude_columns if c not in frame.columns]
    if absent:
        report.append(f"{source}: excluded column(s) not in the file: {', '.join(absent)}")
    reserved = {table.id_column, table.label_column, table.timestamp_column, *table.exclude_columns}
    numeric, categorical = [], []
    for name in frame.columns:
        if name in reserved:
            continue
        kind = table.column_types.get(name) or ("numeric" if _is_numeric(frame[name]) else "categorical")
        (numeric if kind == "numeric" else categorical).append(name)
    if not numeric and not categorical:
        raise BadInputError(f"{source}: no feature columns left after excluding id, label and "
                            f"exclude_columns ({len(frame)} rows)")
    return numeric, categorical


def build_features(frame: pd.DataFrame, doc: dict[str, Any], source: str) -> pd.DataFrame:
    """The feature table for `frame` (cells as read) as `doc` describes it; a needed column that
    is absent is a one-line error."""
    numeric, categorical = doc["numeric_columns"], doc["categorical_columns"]
    absent = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if absent:
        raise BadInputError(f"{source}: column '{absent[0]}' is needed by the model but missing in "
                            f"all {len(frame)} rows" + (f" ({len(absent)} such columns)" if len(absent) > 1 else ""))
    out = {name: _to_number(frame[name]) for name in numeric}
    out.update({name: _to_category(frame[name]) for name in categorical})
    features = pd.DataFrame(out, index=frame.index)
    counter = doc.get("missing_count_column")
    if counter:
        features[counter] = features[[*numeric, *categorical]].isna().sum(axis=1).astype("float64")
    return features[doc["feature_columns"]]


def spec_from_doc(doc: dict[str, Any]) -> FeatureSpec:
    """The FeatureSpec of a lead table: its columns as attributes, no engagement features."""
    counter = doc.get("missing_count_column")
    return FeatureSpec(
        include_engagement=False,
        numeric_attributes=[*doc["numeric_columns"], *([counter] if counter else [])],
        categorical_attributes=list(doc["categorical_columns"]),
        exclude_features=["lead_age_days"],
    )


def file_sha256(path: Path) -> str:
    """Content hash of a file (the fingerprint of a lead table)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_lead_table(config: "ConfigWithLeadTable", path: str | Path | None = None) -> LeadTable:
    """Read, validate and type the lead table of `config` (or the file at `path`) for training.

    Returns a `LeadTable` with `features` (the spec's columns), `y` (0/1), `ids`, `spec` and the
    `doc` to log with a model. The target is `config.targets[0]`.
    """
    table = _section(config)
    file = resolve_path(config, path)
    source = str(file)
    raw = read_raw(file, table.missing_values)
    report: list[str] = []
    _require(raw, table.id_column, source, "id")
    _require(raw, table.label_column, source, "label")
    if table.timestamp_column:
        _require(raw, table.timestamp_column, source, "timestamp")
    y = _labels(raw, table, source, report)
    ids = _ids(raw, table.id_column, source, table.max_bad_fraction, report)
    keep = ~np.isnan(y) & ids.notna().to_numpy()
    timestamps = None
    if table.timestamp_column:
        parsed = pd.to_datetime(raw[table.timestamp_column], errors="coerce", utc=True)
        n_bad = int(parsed.isna().sum())
        if n_bad / len(parsed) > table.max_bad_fraction:
            raise BadInputError(f"{source}: column '{table.timestamp_column}' has {n_bad} of {len(parsed)} "
                                f"timestamps missing or unparseable (limit {table.max_bad_fraction:.1%})")
        if n_bad:
            report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable "
                          f"'{table.timestamp_column}'")
        keep &= parsed.notna().to_numpy()
        timestamps = parsed[keep].reset_index(drop=True)
    raw = raw[keep].reset_index(drop=True)
    numeric, categorical = infer_columns(raw, table, source, report)
    counter = None
    if table.count_missing:
        counter = MISSING_COUNT_COLUMN
        while counter in raw.columns:
            counter = f"{counter}_"
    doc = {
        "source": source,
        "sha256": file_sha256(file),
        "id_column": table.id_column,
        "label_column": table.label_column,
        "timestamp_column": table.timestamp_column,
        "missing_values": list(table.missing_values),
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "missing_count_column": counter,
        "target": config.targets[0],
        "rows": int(len(raw)),
    }
    spec = spec_from_doc(doc)
    doc["feature_columns"] = spec.feature_columns()
    features = build_features(raw, doc, source)
    return LeadTable(
        features=features, y=y[keep].astype(float), spec=spec, ids=ids[keep].reset_index(drop=True),
        raw=raw, source=source, target=config.targets[0], doc=doc, timestamps=timestamps,
        report=report,
    )


def read_for_scoring(path: str | Path, doc: dict[str, Any]) -> LeadTable:
    """Read a new export as the model's `doc` says: every lead with an id, label not needed."""
    file = Path(path)
    source = str(file)
    raw = read_raw(file, doc.get("missing_values", []))
    report: list[str] = []
    _require(raw, doc["id_column"], source, "id")
    ids = _ids(raw, doc["id_column"], source, 1.0, report)
    keep = ids.notna().to_numpy()
    raw = raw[keep].reset_index(drop=True)
    features = build_features(raw, doc, source)
    return LeadTable(
        features=features, y=None, spec=spec_from_doc(doc), ids=ids[keep].reset_index(drop=True),
        raw=raw, source=source, target=doc["target"], doc=doc, report=report,
    )


def read_ids_and_cells(config: "ConfigWithLeadTable", path: str | Path | None,
                       needed_columns: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Every lead of a lead table with an id: (ids, cells as read), after checking that the
    `needed_columns` exist (a rule scorecard's attribute columns)."""
    table_config = _section(config)
    file = resolve_path(config, path)
    source = str(file)
    raw = read_raw(file, table_config.missing_values)
    _require(raw, table_config.id_column, source, "id")
    ids = _ids(raw, table_config.id_column, source, 1.0, [])
    keep = ids.notna().to_numpy()
    raw = raw[keep].reset_index(drop=True)
    missing = [c for c in needed_columns if c not in raw.columns]
    if missing:
        raise BadInputError(f"{source}: column '{missing[0]}' used by the scorecard is missing in all "
                            f"{len(raw)} rows")
    return ids[keep].reset_index(drop=True), raw
