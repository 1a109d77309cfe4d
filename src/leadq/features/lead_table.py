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
with `count_missing`, the number of missing fields per lead (`missing_fields`). A column empty
in every row or holding one value in every row is left out, with a report line, and the logged
`doc` says so (`unused_columns`).

The file is read by DuckDB and Arrow column at a time (`leadq.data.lead_reader`), in its CSV
dialect (sniffed, or `csv:`); `timestamp_format` reads epoch or strftime times.

Entry points: `load_lead_table(config, path=None) -> LeadTable` (features, labels, ids and the
FeatureSpec, for training, `leadq compare` and notebooks), `read_for_scoring(path, doc)` (a new
export read as a model's logged `doc` says) and `read_ids_and_cells` (for rule scorecards).
Training on such a table is `leadq.steps.train.train_lead_table`, scoring
`leadq.scoring.lead_table`, its cross-validation `leadq.models.cross_validation`.
"""

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadq.core.errors import BadInputError
from leadq.data.bound import quote_identifier
from leadq.data.csv_dialect import CsvOptions
from leadq.data.lead_reader import (
    CELLS,
    FALSE_LABELS,
    TRUE_LABELS,
    LeadCells,
    categories,
    category_codes,
    clean_categories,
    fetch,
    fetch_batches,
    id_sql,
    label_sql,
    number_sql,
    numbers,
    profile_columns,
    read_lead_cells,
    text_sql,
    written_text_sql,
)
from leadq.data.policy import NUMERIC_SHARE_FOR_NUMBER
from leadq.data.timestamps import check_format_word, is_numeric, timestamp_sql
from leadq.features.spec import FeatureSpec


MISSING_COUNT_COLUMN = "missing_fields"
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
    timestamp_format: str | None = Field(
        default=None,
        description="How timestamp_column is written: iso (default), epoch_s, epoch_ms, epoch_us or a "
        "strftime format such as '%d/%m/%Y'.",
    )
    csv: CsvOptions = Field(
        default_factory=CsvOptions,
        description="CSV delimiter, decimal mark, encoding, quote; sniffed from the file when left out.",
    )
    cv_folds: int = Field(default=5, ge=2, le=20, description="Stratified folds (no timestamp).")
    count_missing: bool = Field(
        default=True, description="Add a feature counting each lead's missing fields."
    )
    max_bad_fraction: float = Field(
        default=0.01, ge=0, lt=1,
        description="Stop when more than this share of labels is missing or unparseable.",
    )

    @field_validator("timestamp_format")
    @classmethod
    def _format_known(cls, fmt: str | None) -> str | None:
        return check_format_word(fmt)



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


def read_raw(path: Path, missing_values: list[str], csv: CsvOptions | dict | None = None) -> pd.DataFrame:
    """The file's cells (text trimmed; placeholders and empty text missing; Parquet values keep
    their type) as a DataFrame, read by DuckDB (`leadq.data.lead_reader`)."""
    cells = read_lead_cells(path, missing_values, _csv_options(csv))
    return fetch(cells, {name: quote_identifier(name) for name in cells.columns}).to_pandas()


def _csv_options(csv: CsvOptions | dict | None) -> CsvOptions | None:
    return CsvOptions.model_validate(csv) if isinstance(csv, dict) else csv


def parse_labels(values: pd.Series) -> np.ndarray:
    """0/1, yes/no, y/n, true/false (any case, spaces around ignored) as 1.0/0.0; anything else NaN."""
    text = pd.Series(values).astype("string").str.strip().str.lower()
    return np.where(text.isin(TRUE_LABELS), 1.0, np.where(text.isin(FALSE_LABELS), 0.0, np.nan))


def _require_cell(cells: LeadCells, column: str, role: str) -> None:
    if column not in cells.types:
        raise BadInputError(f"{cells.source}: {role} column '{column}' is missing in all {cells.n_rows} rows")


def _require(frame: pd.DataFrame, column: str, source: str, role: str) -> None:
    if column not in frame.columns:
        raise BadInputError(f"{source}: {role} column '{column}' is missing in all {len(frame)} rows")


def _ids(frame: pd.DataFrame, column: str, source: str, max_bad: float, report: list[str]) -> pd.Series:
    """The id column of `read_raw`'s frame as trimmed text (None when missing), with the policy:
    too many missing ids or any duplicate is a one-line error, a few missing are reported."""
    values = frame[column]
    text = values.astype("string").str.strip()
    ids = text.where(text.notna() & (text != ""), None).astype(object)
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


def _check_rows(cells: LeadCells, table: LeadTableConfig, ts_sql: str | None, report: list[str]) -> str:
    """The bad-input policy on the id, label and timestamp columns, counted in one scan; returns
    the SQL condition of the rows kept (a label, an id and, with a timestamp column, a time)."""
    source, label, id_col = cells.source, table.label_column, table.id_column
    y, ids = label_sql(label), id_sql(cells, id_col)
    ts_count = f"count(*) FILTER (WHERE {ts_sql} IS NULL)" if ts_sql else "0"
    n_rows, n_bad, n_pos, n_neg, n_no_id, n_dup_ids, n_dup_rows, n_bad_ts = cells.con.execute(
        f"""WITH c AS (SELECT {y} AS __leadq_y, {ids} AS __leadq_id, * FROM {CELLS}),
                 dup AS (SELECT count(*) AS n FROM c WHERE __leadq_id IS NOT NULL GROUP BY __leadq_id HAVING count(*) > 1)
            SELECT (SELECT count(*) FROM c), count(*) FILTER (WHERE __leadq_y IS NULL),
                   count(*) FILTER (WHERE __leadq_y = 1), count(*) FILTER (WHERE __leadq_y = 0),
                   count(*) FILTER (WHERE __leadq_id IS NULL), (SELECT count(*) FROM dup),
                   (SELECT coalesce(sum(n), 0) FROM dup), {ts_count}
            FROM c"""
    ).fetchall()[0]
    if n_rows == 0:
        raise BadInputError(f"{source}: column '{label}': the table has no rows (0 rows)")
    if n_bad / n_rows > table.max_bad_fraction:
        seen = [row[0] for row in cells.con.execute(
            f"SELECT DISTINCT {text_sql(label)} AS v FROM {CELLS} WHERE {y} IS NULL AND v IS NOT NULL "
            "ORDER BY v LIMIT 3").fetchall()]
        examples = f" (e.g. {', '.join(repr(v) for v in seen)})" if seen else ""
        raise BadInputError(
            f"{source}: column '{label}' has {n_bad} of {n_rows} labels missing or unparseable{examples} "
            f"({n_bad / n_rows:.1%}, limit {table.max_bad_fraction:.1%}); labels must be 0/1, "
            "yes/no or true/false"
        )
    if n_bad:
        report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable '{label}'")
    if not n_pos or not n_neg:
        raise BadInputError(
            f"{source}: column '{label}' is constant: all {n_pos + n_neg} labels are {1 if n_pos else 0}; "
            "a model needs both outcomes"
        )
    if n_no_id and n_no_id / n_rows > table.max_bad_fraction:
        raise BadInputError(f"{source}: column '{id_col}' has {n_no_id} of {n_rows} ids missing "
                            f"({n_no_id / n_rows:.1%}, limit {table.max_bad_fraction:.1%})")
    if n_no_id:
        report.append(f"{source}: dropped {n_no_id} rows with a missing '{id_col}'")
    if n_dup_ids:
        raise BadInputError(f"{source}: column '{id_col}' has {n_dup_ids} duplicate lead ids "
                            f"({int(n_dup_rows)} rows share an id)")
    keep = f"{y} IS NOT NULL AND {ids} IS NOT NULL"
    if ts_sql:
        column = table.timestamp_column
        if n_bad_ts / n_rows > table.max_bad_fraction:
            raise BadInputError(f"{source}: column '{column}' has {n_bad_ts} of {n_rows} timestamps missing or "
                                f"unparseable (limit {table.max_bad_fraction:.1%})")
        if n_bad_ts:
            report.append(f"{source}: dropped {n_bad_ts} rows with a missing or unparseable '{column}'")
        keep += f" AND {ts_sql} IS NOT NULL"
    return keep


def infer_columns(cells: LeadCells, table: LeadTableConfig, keep: str, report: list[str]
                  ) -> tuple[list[str], list[str], dict[str, str]]:
    """(numeric, categorical, unused) feature columns over the kept rows: all but the id, label,
    timestamp and excluded ones. Numeric when stored as numbers or when 99 % of the filled cells
    parse as finite numbers, unless `column_types` says otherwise. A column empty in every row
    or holding one value in every row is unused (column -> why), with a report line."""
    source, n_rows = cells.source, cells.n_rows
    unknown = [c for c in table.column_types if c not in cells.types]
    if unknown:
        raise BadInputError(f"{source}: column '{unknown[0]}' named in lead_table.column_types is missing "
                            f"in all {n_rows} rows")
    absent = [c for c in table.exclude_columns if c not in cells.types]
    if absent:
        report.append(f"{source}: excluded column(s) not in the file: {', '.join(absent)}")
    reserved = {table.id_column, table.label_column, table.timestamp_column, *table.exclude_columns}
    candidates = [c for c in cells.columns if c not in reserved]
    n_kept = cells.con.execute(f"SELECT count(*) FROM {CELLS} WHERE {keep}").fetchall()[0][0]
    profiles = profile_columns(cells, candidates, keep)
    numeric, categorical, unused = [], [], {}
    for name in candidates:
        profile = profiles[name]
        if profile["filled"] == 0:
            unused[name] = "empty in every row"
        elif profile["distinct"] == 1 and profile["filled"] == n_kept:
            value = cells.con.execute(f"SELECT {text_sql(name)} FROM {CELLS} WHERE {keep} LIMIT 1").fetchall()[0][0]
            unused[name] = f"'{value}' in every row"
        if name in unused:
            report.append(f"{source}: column '{name}' is {unused[name]}: not used")
            continue
        column_type = cells.types[name].upper()
        inferred = (column_type != "BOOLEAN" and
                    (is_numeric(column_type) or profile["numeric"] / profile["filled"] >= NUMERIC_SHARE_FOR_NUMBER))
        kind = table.column_types.get(name) or ("numeric" if inferred else "categorical")
        (numeric if kind == "numeric" else categorical).append(name)
    if not numeric and not categorical:
        raise BadInputError(f"{source}: no feature columns left after excluding id, label, "
                            f"exclude_columns and empty or constant columns ({n_rows} rows)")
    return numeric, categorical, unused


def _feature_select(cells: LeadCells, doc: dict[str, Any]) -> dict[str, str]:
    """Aliases -> SQL of the model's columns: numbers converted, categories as written."""
    select = {}
    for i, name in enumerate(doc["numeric_columns"]):
        select[f"__number_{i}"] = number_sql(cells, name)
    for i, name in enumerate(doc["categorical_columns"]):
        select[f"__category_{i}"] = written_text_sql(cells, name)
    return select


def lead_table_features(fetched, doc: dict[str, Any], placeholders: list[str],
                        as_categorical: bool = False) -> pd.DataFrame:
    """The feature table (`doc["feature_columns"]`, in order) from an Arrow table fetched with
    `_feature_select`'s columns: numbers as float64 (NaN missing), categories as strings or None
    (`placeholders` missing; with `as_categorical`, pandas Categoricals of the same labels, which
    scoring reads without a Python object per cell), and with `missing_count_column` the number
    of missing fields."""
    numeric, categorical = doc["numeric_columns"], doc["categorical_columns"]
    out = {name: numbers(fetched.column(f"__number_{i}")) for i, name in enumerate(numeric)}
    missing = np.zeros(fetched.num_rows)
    for name in numeric:
        missing += np.isnan(out[name])
    for i, name in enumerate(categorical):
        if as_categorical:
            labels, absent = category_codes(fetched.column(f"__category_{i}"), placeholders)
            out[name] = pd.Series(labels)
        else:
            labels, absent = clean_categories(fetched.column(f"__category_{i}"), placeholders)
            # Object columns with None (pandas would otherwise make them its string dtype, with NaN).
            out[name] = pd.Series(labels, dtype=object)
        missing += absent
    counter = doc.get("missing_count_column")
    if counter:
        out[counter] = missing
    return pd.DataFrame({name: out[name] for name in doc["feature_columns"]}, copy=False)


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
    cells = read_lead_cells(file, table.missing_values, table.csv)
    source = cells.source
    report: list[str] = list(cells.notes)
    _require_cell(cells, table.id_column, "id")
    _require_cell(cells, table.label_column, "label")
    ts_sql = None
    if table.timestamp_column:
        _require_cell(cells, table.timestamp_column, "timestamp")
        ts_sql = timestamp_sql(cells.con, table.timestamp_column, cells.types[table.timestamp_column],
                               table.timestamp_format, "lead_table.timestamp_format")
    keep = _check_rows(cells, table, ts_sql, report)
    numeric, categorical, unused = infer_columns(cells, table, keep, report)
    counter = None
    if table.count_missing:
        counter = MISSING_COUNT_COLUMN
        while counter in cells.types:
            counter = f"{counter}_"
    doc = {
        "source": source,
        "sha256": file_sha256(file),
        "id_column": table.id_column,
        "label_column": table.label_column,
        "timestamp_column": table.timestamp_column,
        "timestamp_format": table.timestamp_format,
        "missing_values": list(table.missing_values),
        "csv": table.csv.model_dump(exclude_none=True),
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "unused_columns": unused,
        "missing_count_column": counter,
        "target": config.targets[0],
    }
    spec = spec_from_doc(doc)
    doc["feature_columns"] = spec.feature_columns()
    select = {"__id": id_sql(cells, table.id_column), "__y": label_sql(table.label_column),
              **({"__ts": ts_sql} if ts_sql else {}), **_feature_select(cells, doc),
              **{name: quote_identifier(name) for name in cells.columns}}
    fetched = fetch(cells, select, keep)
    doc["rows"] = int(fetched.num_rows)
    timestamps = None
    if ts_sql:
        timestamps = pd.Series(fetched.column("__ts").to_pandas(), name=table.timestamp_column)
        timestamps = pd.to_datetime(timestamps, utc=True)
    return LeadTable(
        features=lead_table_features(fetched, doc, cells.placeholders), y=numbers(fetched.column("__y")), spec=spec,
        ids=pd.Series(categories(fetched.column("__id")), dtype=object),
        raw=fetched.select(cells.columns).to_pandas(), source=source, target=config.targets[0], doc=doc,
        timestamps=timestamps, report=report,
    )


@dataclass
class ScoringRead:
    """A new export opened for scoring as a model's `doc` says: every lead with an id, label not
    needed, read whole (`whole`) or in batches (`batches`), in one pass either way (a CSV is
    parsed as it is scanned, never stored as text). `report` holds what reading reported so far
    (rows dropped for a missing id counted over the batches read)."""

    cells: LeadCells
    doc: dict[str, Any]
    dropped_without_id: int = 0

    @property
    def report(self) -> list[str]:
        """The reading's notes, and the rows dropped for a missing id."""
        lines = list(self.cells.notes)
        if self.dropped_without_id:
            lines.append(f"{self.cells.source}: dropped {self.dropped_without_id} rows with a missing "
                         f"'{self.doc['id_column']}'")
        return lines

    def _select(self) -> dict[str, str]:
        return {"__id": id_sql(self.cells, self.doc["id_column"]), **_feature_select(self.cells, self.doc)}

    def _table(self, fetched) -> LeadTable:
        """The leads of fetched rows that have an id, their features typed for scoring
        (categories as pandas Categoricals)."""
        n_no_id = fetched.column("__id").null_count
        if n_no_id:
            self.dropped_without_id += n_no_id
            fetched = fetched.filter(pc.is_valid(fetched.column("__id")))
        ids = pd.Series(categories(fetched.column("__id")), dtype=object)
        return LeadTable(
            features=lead_table_features(fetched, self.doc, self.cells.placeholders, as_categorical=True), y=None,
            spec=spec_from_doc(self.doc), ids=ids, raw=pd.DataFrame({self.doc["id_column"]: ids}),
            source=self.cells.source, target=self.doc["target"], doc=self.doc, report=self.report,
        )

    def whole(self) -> LeadTable:
        """Every lead at once."""
        self.dropped_without_id = 0
        return self._table(fetch(self.cells, self._select()))

    def batches(self, rows: int) -> Iterator[LeadTable]:
        """The leads in file order, in tables of about `rows` rows (memory for one batch);
        raises `ReadAgain` when the file must be read again from the start as Latin-1."""
        self.dropped_without_id = 0
        for fetched in fetch_batches(self.cells, self._select(), rows):
            yield self._table(fetched)


def open_for_scoring(path: str | Path, doc: dict[str, Any]) -> ScoringRead:
    """A new export opened to be read as the model's `doc` says; a column the model needs that
    the file lacks is a one-line error."""
    cells = read_lead_cells(path, doc.get("missing_values", []), _csv_options(doc.get("csv")), materialise=False)
    _require_cell(cells, doc["id_column"], "id")
    needed = [*doc["numeric_columns"], *doc["categorical_columns"]]
    absent = [c for c in needed if c not in cells.types]
    if absent:
        raise BadInputError(f"{cells.source}: column '{absent[0]}' is needed by the model but missing in "
                            f"all {cells.n_rows} rows" + (f" ({len(absent)} such columns)" if len(absent) > 1 else ""))
    return ScoringRead(cells, doc)


def read_for_scoring(path: str | Path, doc: dict[str, Any]) -> LeadTable:
    """Read a new export as the model's `doc` says: every lead with an id, label not needed, the
    id and the columns the model reads; `raw` holds the ids only (see `open_for_scoring` to
    read it in batches)."""
    return open_for_scoring(path, doc).whole()


def read_ids_and_cells(config: "ConfigWithLeadTable", path: str | Path | None,
                       needed_columns: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Every lead of a lead table with an id: (ids, cells as read), after checking that the
    `needed_columns` exist (a rule scorecard's attribute columns)."""
    table_config = _section(config)
    file = resolve_path(config, path)
    source = str(file)
    raw = read_raw(file, table_config.missing_values, table_config.csv)
    _require(raw, table_config.id_column, source, "id")
    ids = _ids(raw, table_config.id_column, source, 1.0, [])
    keep = ids.notna().to_numpy()
    raw = raw[keep].reset_index(drop=True)
    missing = [c for c in needed_columns if c not in raw.columns]
    if missing:
        raise BadInputError(f"{source}: column '{missing[0]}' used by the scorecard is missing in all "
                            f"{len(raw)} rows")
    return ids[keep].reset_index(drop=True), raw
