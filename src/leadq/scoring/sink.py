"""Database sinks: a night's scores and its drift-report summary, written in one transaction.

`leadq predict --out URL --out-table NAME` (a `postgresql://` or `duckdb:///` URL, see
`leadq.data.database`; NAME is `name` or `schema.name`, default `lead_scores`) writes two tables:

- NAME: the rows `leadq predict` writes to a file, typed: `as_of` and `scored_at` timestamps
  with time zone, `score` an integer, the `p_<target>` probabilities double precision (NULL for
  a stage the lead already reached), the rest text. Primary key (`as_of`, `model_version`,
  `lead_id`): one row per lead, night and model version.
- NAME`_report`: one row per (`as_of`, `model_version`): when it was scored, how many leads,
  the share routed to each stage, the population stability index of the score and the largest
  of the features', the count of drift warnings, and the whole drift report as JSON.

One transaction locks NAME against other writers (readers are never blocked), deletes the rows
of the same (`as_of`, `model_version`) from both tables and inserts the new ones: re-running a
night replaces exactly that night, and a reader sees the previous rows or the new ones, never a
mix or a part. A missing table is created; an existing one must have every column leadq writes,
with a compatible type, and no other column that requires a value; otherwise nothing is written
and one line names the first mismatch.
"""

import json
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from leadq.core.errors import BadInputError, OutputError
from leadq.data.database import (
    MAX_IDENTIFIER_CHARS,
    DatabaseUrl,
    is_database_url,
    one_line,
    parse_database_url,
    postgres_connection,
    postgres_driver_error,
    quoted_table_name,
    require_postgres_driver,
    table_identifier,
)

DEFAULT_OUT_TABLE = "lead_scores"
REPORT_SUFFIX = "_report"
KEY_COLUMNS = ("as_of", "model_version", "lead_id")
SCORE_TIMESTAMP_COLUMNS = ("as_of", "scored_at")
INTEGER_COLUMNS = ("score",)

# Column kinds, their type per database, and the existing types a kind may be written into
# (as `information_schema.columns.data_type` names them).
COLUMN_TYPES = {
    "postgresql": {"text": "text", "double": "double precision", "integer": "integer", "bigint": "bigint",
                   "timestamptz": "timestamp with time zone", "json": "jsonb"},
    "duckdb": {"text": "VARCHAR", "double": "DOUBLE", "integer": "INTEGER", "bigint": "BIGINT",
               "timestamptz": "TIMESTAMP WITH TIME ZONE", "json": "JSON"},
}
COMPATIBLE_TYPES = {
    "postgresql": {"text": {"text", "character varying"}, "double": {"double precision", "numeric"},
                   "integer": {"integer", "bigint", "numeric"}, "bigint": {"bigint", "numeric"},
                   "timestamptz": {"timestamp with time zone"}, "json": {"jsonb", "json"}},
    "duckdb": {"text": {"VARCHAR"}, "double": {"DOUBLE"}, "integer": {"INTEGER", "BIGINT", "HUGEINT"},
               "bigint": {"BIGINT", "HUGEINT"}, "timestamptz": {"TIMESTAMP WITH TIME ZONE"}, "json": {"JSON"}},
}
ARROW_TYPES = {"text": pa.string(), "double": pa.float64(), "integer": pa.int32(), "bigint": pa.int64(),
               "timestamptz": pa.timestamp("us", tz="UTC"), "json": pa.string()}


@dataclass(frozen=True)
class Column:
    """A column leadq writes: its name, kind (a key of `ARROW_TYPES`) and whether it is part of
    the key (NOT NULL)."""

    name: str
    kind: str
    key: bool = False


@dataclass(frozen=True)
class Rows:
    """Rows bound for one table: its name, its columns and the data as Arrow."""

    table: str
    columns: list[Column]
    data: pa.Table


@dataclass(frozen=True)
class SinkTarget:
    """Where scores go: the database URL and the two tables' names (schema or None, name)."""

    url: DatabaseUrl
    schema: str | None
    scores_table: str
    report_table: str

    @property
    def label(self) -> str:
        """The URL (password removed) and the scores table, as messages show them."""
        return f"{self.url.redacted}, table {'.'.join(filter(None, (self.schema, self.scores_table)))}"

    @property
    def report_label(self) -> str:
        """The report table as messages show it."""
        return ".".join(filter(None, (self.schema, self.report_table)))


def parse_sink(out: str, out_table: str | None = None) -> SinkTarget:
    """Check a database `--out` and `--out-table` before any work is done (URL, table names,
    driver); problems are one-line `BadInputError`s."""
    if not is_database_url(out):
        raise BadInputError(f"{out}: --out-table needs a database --out (postgresql://... or duckdb:///...)")
    url = parse_database_url(out)
    name = out_table or DEFAULT_OUT_TABLE
    schema, table = table_identifier(name, f"{url.redacted} --out-table")
    report = table + REPORT_SUFFIX
    if len(report) > MAX_IDENTIFIER_CHARS:
        raise BadInputError(f"{url.redacted} --out-table: '{table}' is too long for its report table "
                            f"'{report}' (at most {MAX_IDENTIFIER_CHARS} characters)")
    if url.kind == "postgresql":
        require_postgres_driver(url)
    return SinkTarget(url, schema, table, report)


def score_rows(scored: pd.DataFrame, table: str) -> Rows:
    """The scored table as typed Arrow rows: timestamps for `as_of`/`scored_at`, an integer
    `score`, floats as double, other integers as bigint, everything else text."""
    missing = [c for c in KEY_COLUMNS if c not in scored.columns]
    if missing:
        raise BadInputError(f"scores: column '{missing[0]}' is missing; a database --out needs "
                            f"{', '.join(KEY_COLUMNS)}")
    columns, arrays = [], []
    for name in scored.columns:
        values = scored[name]
        if name in SCORE_TIMESTAMP_COLUMNS:
            kind = "timestamptz"
            values = pd.to_datetime(values, utc=True, format="ISO8601")
        elif name in INTEGER_COLUMNS:
            kind = "integer"
        elif pd.api.types.is_float_dtype(values):
            kind = "double"
        elif pd.api.types.is_integer_dtype(values):
            kind = "bigint"
        else:
            kind = "text"
            values = values.astype(object).where(values.notna(), None).map(
                lambda v: v if v is None else str(v))
        columns.append(Column(name, kind, key=name in KEY_COLUMNS))
        arrays.append(pa.array(values, type=ARROW_TYPES[kind], from_pandas=True))
    return Rows(table, columns, pa.Table.from_arrays(arrays, names=list(scored.columns)))


def report_rows(report: dict, score_column: str | None, model_name: str | None, table: str) -> Rows:
    """The drift report's summary as one row (see the module docstring)."""
    psi = report.get("psi", {})
    feature_psi = [float(v) for k, v in psi.items() if k != score_column]
    level = report.get("psi_warning_level")
    values = {
        "as_of": pd.Timestamp(report["as_of"]),
        "model_version": str(report.get("model_version", "")),
        "model_name": model_name,
        "model_uri": report.get("model_uri"),
        "scored_at": pd.Timestamp(report["scored_at"]) if report.get("scored_at") else None,
        "leads_scored": int(report.get("leads_scored", 0)),
        "engine": report.get("engine"),
        "score_psi": float(psi[score_column]) if score_column in psi else None,
        "max_feature_psi": max(feature_psi) if feature_psi else None,
        "drift_warnings": sum(v > level for v in psi.values()) if level is not None else None,
        "stage_share": json.dumps(report.get("stage_share", {})),
        "psi": json.dumps(psi),
        "warnings": json.dumps(report.get("warnings", []) + report.get("data_report", [])),
        "report": json.dumps(report, default=str),
    }
    kinds = {"as_of": "timestamptz", "model_version": "text", "model_name": "text", "model_uri": "text", "scored_at": "timestamptz",
             "leads_scored": "bigint", "engine": "text", "score_psi": "double", "max_feature_psi": "double",
             "drift_warnings": "integer", "stage_share": "json", "psi": "json", "warnings": "json",
             "report": "json"}
    columns = [Column(name, kind, key=name in KEY_COLUMNS) for name, kind in kinds.items()]
    data = pa.Table.from_arrays([pa.array([values[c.name]], type=ARROW_TYPES[c.kind]) for c in columns],
                                names=[c.name for c in columns])
    return Rows(table, columns, data)


def write_scores(target: SinkTarget, scored: pd.DataFrame, report: dict) -> int:
    """Replace the night (`as_of`, `model_version` of `report`) in the target's two tables with
    `scored` and the report's summary, in one transaction. Returns the rows written.

    A refused or lost write is a one-line `OutputError` (exit code 6) and changes nothing; an
    incompatible existing table is a `BadInputError`."""
    as_of = pd.Timestamp(report["as_of"]).isoformat()
    version = str(report.get("model_version", ""))
    stale = scored[(pd.to_datetime(scored["as_of"], utc=True, format="ISO8601") != pd.Timestamp(as_of))
                   | (scored["model_version"].astype(str) != version)] if len(scored) else scored
    if len(stale):
        raise BadInputError(f"{target.label}: {len(stale)} rows are not of the night being written "
                            f"(as_of {as_of}, model_version {version})")
    p_columns = [c for c in scored.columns if c.startswith("p_")]
    model_name = str(scored["model_name"].iloc[0]) if len(scored) and "model_name" in scored else None
    batches = [score_rows(scored, target.scores_table),
               report_rows(report, p_columns[-1] if p_columns else None, model_name, target.report_table)]
    write = _write_postgres if target.url.kind == "postgresql" else _write_duckdb
    write(target, batches, (as_of, version))
    return len(scored)


def _column_types(run, dialect: str, schema: str, table: str) -> dict[str, tuple[str, bool]]:
    """An existing table's columns: name -> (data type, requires a value); empty when absent."""
    rows = run("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
               f"WHERE table_schema = {_param(dialect, 1)} AND table_name = {_param(dialect, 2)}", (schema, table))
    return {name: (str(data_type), is_nullable == "NO" and default is None)
            for name, data_type, is_nullable, default in rows}


def _check_or_create(run, dialect: str, target: SinkTarget, schema: str, rows: Rows) -> None:
    existing = _column_types(run, dialect, schema, rows.table)
    shown = f"{target.url.redacted}, table {schema}.{rows.table}"
    types = COLUMN_TYPES[dialect]
    if not existing:
        definitions = [f'"{c.name}" {types[c.kind]}' + (" NOT NULL" if c.key else "") for c in rows.columns]
        key = ", ".join(f'"{name}"' for name in KEY_COLUMNS if name in {c.name for c in rows.columns})
        run(f"CREATE TABLE IF NOT EXISTS {quoted_table_name(schema, rows.table)} "
            f"({', '.join(definitions)}, PRIMARY KEY ({key}))")
        return
    for column in rows.columns:
        if column.name not in existing:
            raise BadInputError(f"{shown}: the existing table has no column '{column.name}' "
                                f"({types[column.kind]}); use another --out-table or add the column")
        data_type = existing[column.name][0]
        if data_type not in COMPATIBLE_TYPES[dialect][column.kind]:
            raise BadInputError(f"{shown}: column '{column.name}' is {data_type}, leadq writes "
                                f"{types[column.kind]}; use another --out-table")
    written = {c.name for c in rows.columns}
    required = [name for name, (_, needs_value) in existing.items() if needs_value and name not in written]
    if required:
        raise BadInputError(f"{shown}: column '{required[0]}' requires a value leadq does not write; "
                            "use another --out-table")


def _param(dialect: str, number: int) -> str:
    return f"${number}" if dialect == "postgresql" else "?"


def _replace_night(run, dialect: str, schema: str, rows: Rows, stage: str, night: tuple[str, str]) -> None:
    """Delete the night's rows, then insert the staged ones, cast to the declared types."""
    target = quoted_table_name(schema, rows.table)
    run(f"DELETE FROM {target} WHERE as_of = CAST({_param(dialect, 1)} AS {COLUMN_TYPES[dialect]['timestamptz']}) "
        f"AND model_version = {_param(dialect, 2)}", night)
    names = ", ".join(f'"{c.name}"' for c in rows.columns)
    casts = ", ".join(f'CAST("{c.name}" AS {COLUMN_TYPES[dialect][c.kind]})' for c in rows.columns)
    run(f"INSERT INTO {target} ({names}) SELECT {casts} FROM {stage}")


def _write_postgres(target: SinkTarget, batches: list[Rows], night: tuple[str, str]) -> None:
    error = postgres_driver_error()
    with postgres_connection(target.url, error=OutputError) as conn, conn.cursor() as cursor:

        def run(sql: str, parameters=None) -> list:
            cursor.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

        try:
            schema = target.schema or run("SELECT current_schema()")[0][0]
            if schema is None:
                raise BadInputError(f"{target.label}: the connection has no current schema; name one "
                                    "in --out-table (schema.table)")
            for rows in batches:
                _check_or_create(run, "postgresql", target, schema, rows)
            # Other writers wait; readers keep reading the previous night until the commit.
            run(f"LOCK TABLE {quoted_table_name(schema, target.scores_table)} IN SHARE ROW EXCLUSIVE MODE")
            for number, rows in enumerate(batches):
                stage = f"leadq_stage_{number}"
                cursor.adbc_ingest(stage, rows.data, mode="create", temporary=True)
                _replace_night(run, "postgresql", schema, rows, f'pg_temp."{stage}"', night)
                run(f'DROP TABLE pg_temp."{stage}"')
            conn.commit()
        except error as exc:
            raise OutputError(f"{target.label}: nothing written ({one_line(exc)})") from None


def _write_duckdb(target: SinkTarget, batches: list[Rows], night: tuple[str, str]) -> None:
    import duckdb

    path = target.url.duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise OutputError(f"{target.url.redacted}: cannot be opened for writing ({one_line(exc)})") from None

    def run(sql: str, parameters=None) -> list:
        result = con.execute(sql, parameters) if parameters is not None else con.execute(sql)
        return result.fetchall() if result.description else []

    try:
        con.execute("SET TimeZone='UTC'")
        con.begin()
        schema = target.schema or run("SELECT current_schema()")[0][0]
        for rows in batches:
            _check_or_create(run, "duckdb", target, schema, rows)
        for number, rows in enumerate(batches):
            stage = f"leadq_stage_{number}"
            con.register(stage, rows.data)
            _replace_night(run, "duckdb", schema, rows, f'"{stage}"', night)
            con.unregister(stage)
        con.commit()
    except duckdb.Error as exc:
        con.rollback()
        raise OutputError(f"{target.label}: nothing written ({one_line(exc)})") from None
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
