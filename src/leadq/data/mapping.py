"""A user's export mapped onto the data contract, all in YAML: files, columns, values, formats.

See data/README.md ("Mapping your own export") for every key with a worked example per export
shape. Values (event types, stages) are matched by `value_key`: case, spaces, `_` and `-` do
not matter, so `Qualified Prospect`, `qualifiedprospect` and `QUALIFIED_PROSPECT` are one value.
"""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadq.core.errors import BadInputError
from leadq.data.contract import OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS, TIMESTAMP_COLUMNS
from leadq.data.csv_dialect import CsvOptions
from leadq.data.timestamps import check_format_word

_IGNORED_IN_KEYS = re.compile(r"[\s_\-]+")
ContractTable = Literal["leads", "events", "outcomes"]
MAPPABLE_COLUMNS = {table: (*required, *(OPTIONAL_EVENT_COLUMNS if table == "events" else ()))
                    for table, required in REQUIRED_COLUMNS.items()}


class TableSource(BaseModel):
    """Where one contract table comes from: a table or view (`name` or `schema.name`; in a data
    folder, the file or folder name), or, in a database, a SQL `query` run as given."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "TableSource":
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


def listed_column_name(columns: list[str]) -> str:
    """The name of the column gathered from several ("A or B")."""
    return columns[0] if len(columns) == 1 else " or ".join(columns)


def value_key(value: str) -> str:
    """The form values are matched in: lower case without spaces, `_` or `-`."""
    return _IGNORED_IN_KEYS.sub("", str(value)).lower()


class RegexCondition(BaseModel):
    """A regular expression searched in the value (RE2 syntax; `(?i)` for any case)."""

    model_config = ConfigDict(extra="forbid")

    regex: str = Field(min_length=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"'{pattern}' is not a valid regular expression ({exc})") from None
        return pattern


class EventRule(BaseModel):
    """Events matching every condition of `when` get event type `type`.

    `when` maps a column to a glob (`/pricing*`: the whole value, any case) or to
    `{regex: ...}`. The column is a contract column of the events table (`event_type`, `page`,
    `content_id`, `channel`, `duration_s`, read through `columns.events`) or any other column of
    the events file by its own name. An `event_type` condition is matched like event-type
    values (case, spaces, `_`, `-` ignored) against the event's own type and its mapped type.
    """

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    when: dict[str, str | RegexCondition] = Field(min_length=1)

    @field_validator("type")
    @classmethod
    def _type_is_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an event rule's type cannot be blank")
        return value.strip()


TableName = ContractTable


class DataMapping(BaseModel):
    """How a user's export maps onto the contract (every key optional).

    - `tables`: contract table -> file or folder stem, or a path, relative to `--data` (a list:
      several files read as one table, their columns matched by name); in a database, a table
      or view (`schema.name`) or `{query: "SELECT ..."}`;
    - `columns`: per table, contract column -> the user's column (a list: the first of them
      with a value, row by row, for tables gathered from files that name it differently);
    - `event_types`: the user's event-type value -> canonical type;
    - `event_rules`: ordered rules deriving an event type from the event's own type and other
      columns; the first match wins, before `event_types`;
    - `stages`: the user's stage value -> `mql`, `sql`, `customer` (or another stage name);
    - `stage_columns`: stage -> a column of the leads table holding when the lead reached it
      (instead of, or beside, an outcomes table);
    - `timestamps`: per table, a format for all its timestamp columns or per column (by
      contract or own name): `iso`, `epoch_s`, `epoch_ms`, `epoch_us` or a strftime format;
    - `csv`: delimiter, decimal mark, encoding, quote (default: sniffed per file);
    - `exclude_columns`: leads-table columns never used as attributes (ids, fields written after
      the outcome, a current lifecycle stage).
    """

    model_config = ConfigDict(extra="forbid")

    tables: dict[TableName, str | list[str] | TableSource] = Field(default_factory=dict)
    columns: dict[str, dict[str, str | list[str]]] = Field(default_factory=dict)
    event_types: dict[str, str] = Field(default_factory=dict)
    event_rules: list[EventRule] = Field(default_factory=list)
    stages: dict[str, str] = Field(default_factory=dict)
    stage_columns: dict[str, str] = Field(default_factory=dict)
    timestamps: dict[TableName, str | dict[str, str]] = Field(default_factory=dict)
    csv: CsvOptions = Field(default_factory=CsvOptions)
    exclude_columns: list[str] = Field(default_factory=list)
    max_bad_fraction: float = Field(
        default=0.01, ge=0.0, le=1.0,
        description="Share of unparseable rows in a required column above which loading stops.",
    )

    @field_validator("tables")
    @classmethod
    def _tables_named(cls, tables: dict) -> dict:
        for table, names in tables.items():
            if isinstance(names, TableSource):
                continue
            for name in ([names] if isinstance(names, str) else names or [None]):
                if name is None or not str(name).strip():
                    raise ValueError(f"tables.{table} is blank")
        return tables

    @field_validator("columns")
    @classmethod
    def _columns_named(cls, columns: dict) -> dict:
        for table, names in columns.items():
            for contract_column, source in names.items():
                if isinstance(source, list) and not source:
                    raise ValueError(f"columns.{table}.{contract_column} is an empty list")
        return columns

    @field_validator("timestamps")
    @classmethod
    def _formats_known(cls, timestamps: dict) -> dict:
        for formats in timestamps.values():
            for fmt in ([formats] if isinstance(formats, str) else formats.values()):
                check_format_word(fmt)
        return timestamps

    @field_validator("stages", "stage_columns")
    @classmethod
    def _stage_names(cls, stages: dict[str, str]) -> dict[str, str]:
        for key, value in stages.items():
            if not str(key).strip() or not str(value).strip():
                raise ValueError("stage names and columns cannot be blank")
        return stages

    @model_validator(mode="after")
    def _known_names(self) -> "DataMapping":
        for table, columns in self.columns.items():
            if table not in MAPPABLE_COLUMNS:
                raise ValueError(f"columns: unknown table '{table}' (tables: {', '.join(MAPPABLE_COLUMNS)})")
            unknown = [c for c in columns if c not in MAPPABLE_COLUMNS[table]]
            if unknown:
                raise ValueError(f"columns.{table}: '{unknown[0]}' is not a column of the contract's {table} "
                                 f"table (mappable: {', '.join(MAPPABLE_COLUMNS[table])}); the key is the "
                                 "contract's name, the value yours")
        return self

    @model_validator(mode="after")
    def _keys_consistent(self) -> "DataMapping":
        for stage in self.stage_columns:
            if stage != stage.strip().lower():
                raise ValueError(f"stage_columns: stage '{stage}' must be written in lower case (e.g. mql)")
        if len(self.event_rules) > 60 or sum(len(r.when) for r in self.event_rules) > 250:
            raise ValueError("event_rules: at most 60 rules with 250 conditions in all")
        return self

    def source_column(self, table: str, contract_column: str) -> str:
        """The user's name for a contract column of `table` (the contract name when unmapped);
        for a list of columns, the name of the column reading gathers them into, "A or B"."""
        source = self.columns.get(table, {}).get(contract_column, contract_column)
        return listed_column_name(source) if isinstance(source, list) else source

    def table_source(self, table: str) -> TableSource:
        """Where contract table `table` comes from (its own name when the mapping is silent); a
        list of files is for a data folder only."""
        source = self.tables.get(table, table)
        if isinstance(source, list):
            raise BadInputError(f"mapping: tables.{table} lists several files, which needs a data folder, not a "
                                "database")
        return TableSource(table=source) if isinstance(source, str) else source

    def listed_columns(self, table: str) -> dict[str, list[str]]:
        """Gathered column name ("A or B") -> its listed columns, for the columns of `table`
        mapped to a list."""
        return {listed_column_name(source): list(source) for source in self.columns.get(table, {}).values()
                if isinstance(source, list) and len(source) > 1}

    def timestamp_format(self, table: str, contract_column: str | None, source_column: str) -> str | None:
        """The format of a timestamp column: set for it by contract or own name, else the
        table's, else None (ISO text or native)."""
        formats = self.timestamps.get(table)
        if formats is None or isinstance(formats, str):
            return formats
        for key in (source_column, contract_column):
            if key is not None and key in formats:
                return formats[key]
        return None

    def unknown_timestamp_columns(self, table: str, present: set[str]) -> list[str]:
        """Per-column timestamp formats of `table` naming no timestamp column it has."""
        formats = self.timestamps.get(table)
        if not isinstance(formats, dict):
            return []
        known = {*TIMESTAMP_COLUMNS.get(table, ()), *present}
        if table == "leads":
            known |= set(self.stage_columns.values()) | set(self.stage_columns)
        return [name for name in formats if name not in known]

    def event_type_keys(self) -> dict[str, str]:
        """`event_types` keyed by `value_key`."""
        return {value_key(k): v.strip() for k, v in self.event_types.items()}

    def stage_keys(self) -> dict[str, str]:
        """`stages` keyed by `value_key`, values lower-cased."""
        return {value_key(k): v.strip().lower() for k, v in self.stages.items()}

    def reshapes(self) -> list[str]:
        """The keys set beyond column and value mapping (what an engine must support)."""
        keys = ("tables", "event_rules", "stages", "stage_columns", "timestamps", "exclude_columns")
        out = [key for key in keys if getattr(self, key)]
        if self.csv != CsvOptions():
            out.append("csv")
        return out
