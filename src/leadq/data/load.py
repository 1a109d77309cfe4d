"""Read the three tables, map them onto the contract and apply the bad-input policy.

The policy is the same in every command (see data/README.md):

- fatal, one line naming the file, the column and the count: a missing table or required
  column, a required column whose values are mostly (over `max_bad_fraction`) unparseable,
  duplicate lead ids, an empty leads table where one is required;
- reported with their count and dropped: a few unparseable rows, events and outcomes for
  unknown leads, events before the lead's `created_at`, timestamps later than the run's clock,
  negative durations.

Validated tables live in an in-process DuckDB connection as `leads`, `events` and `outcomes`
with the contract's column names; timestamps are TIMESTAMPTZ in UTC (naive input is UTC).
`leads` and `outcomes` are tables. The events, by far the largest table, are read, joined to
their leads and judged in one parallel scan whose result is fetched straight into arrays
(`EventColumns`, what the feature engine counts); `events` is a view that re-applies the same
rules for the occasional SQL query.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from leadq.data.attributes import numeric_sql
from leadq.data.contract import OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS, TABLES
from leadq.data.database import is_database_url, read_database_tables
from leadq.core.errors import BadInputError
from leadq.data.event_rules import event_type_sql, rule_columns
from leadq.data.integrity import exact_duplicates, id_format_hint
from leadq.data.mapping import DataMapping, TableSource
from leadq.data.policy import (
    NUMERIC_SHARE_FOR_NUMBER,
    check_lead_ids,
    check_unknown_lead_events,
    duplicate_events_line,
    check_leads_left,
    event_drop_reasons,
    future_leads_line,
    outcome_drop_reasons,
    report_drops,
    report_unparseable,
    require_columns,
    unparseable_duration_line,
)
from leadq.data.read_tables import gather_listed_columns, locate_tables, read_table
from leadq.data.stages import derive_outcomes, stage_sql
from leadq.data.timestamps import timestamp_sql

CLASSIFY_SAMPLE_ROWS = 20_000


@dataclass
class EventColumns:
    """The validated events as arrays, in no particular order.

    `lead_key` is the lead's key in the `leads` table, `us` the time in epoch microseconds (UTC),
    `type_code` an index into `type_names` (event types after the mapping), `duration_s` NaN when
    missing, and `page_hash` / `content_hash` 64-bit hashes of the values (0: no value).
    """

    lead_key: np.ndarray
    us: np.ndarray
    type_code: np.ndarray
    type_names: list[str]
    duration_s: np.ndarray
    page_hash: np.ndarray
    content_hash: np.ndarray

    def __len__(self) -> int:
        return len(self.us)


@dataclass
class LoadedData:
    """Validated tables in a DuckDB connection, with what was dropped and why."""

    con: duckdb.DuckDBPyConnection
    sources: dict[str, str]
    clock: pd.Timestamp
    events: EventColumns
    report: list[str] = field(default_factory=list)
    numeric_attributes: list[str] = field(default_factory=list)
    categorical_attributes: list[str] = field(default_factory=list)
    max_bad_fraction: float = 0.01
    event_columns: list[str] = field(default_factory=lambda: list(OPTIONAL_EVENT_COLUMNS))
    """The optional event columns (`duration_s`, `page`, ...) the events table has."""

    def frame(self, table: str) -> pd.DataFrame:
        """One validated table as a pandas DataFrame, with the contract's columns."""
        if table == "events":
            sql = "SELECT l.lead_id, e.* EXCLUDE (lead_key) FROM events e JOIN leads l USING (lead_key)"
        elif table == "leads":
            numbers = ", ".join(f"{numeric_sql(c)} AS {_quote(c)}" for c in self.numeric_attributes)
            sql = f"SELECT * EXCLUDE (lead_key) {f'REPLACE ({numbers})' if numbers else ''} FROM leads"
        else:
            sql = f"SELECT * FROM {table}"
        return self.con.execute(sql).df()

    def count(self, table: str) -> int:
        """Row count of a validated table."""
        if table == "events":
            return len(self.events)
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    def history_end(self) -> pd.Timestamp | None:
        """Latest timestamp of any event or outcome (None when there are none)."""
        outcome_us = self.con.execute("SELECT epoch_us(max(reached_at)) FROM outcomes").fetchall()[0][0]
        latest = [int(v) for v in (outcome_us, self.events.us.max() if len(self.events) else None)
                  if v is not None]
        return pd.Timestamp(max(latest), unit="us", tz="UTC") if latest else None

    def fingerprint(self) -> dict:
        """Rows, leads, date ranges and an order-independent content hash of each table."""
        con = self.con
        fp: dict = {}
        for table, ts_col, hashed in (
            ("leads", "created_at", "lead_id, created_at"),
            ("events", "ts", "lead_key, ts, event_type"),
            ("outcomes", "reached_at", "lead_id, stage, reached_at"),
        ):
            rows, leads, first, last, digest = con.execute(
                f"SELECT count(*), count(DISTINCT {hashed.split(',')[0]}), min({ts_col}), max({ts_col}), "
                f"coalesce(bit_xor(hash({hashed})), 0) FROM {table}"
            ).fetchall()[0]
            fp[table] = {
                "rows": int(rows),
                "leads": int(leads),
                "first": None if first is None else pd.Timestamp(first).isoformat(),
                "last": None if last is None else pd.Timestamp(last).isoformat(),
                "hash": f"{int(digest):016x}",
                "source": self.sources.get(table, ""),
            }
        return fp


def connect(memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set to UTC, optionally bounded in memory and threads."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET preserve_insertion_order=false")
    if memory_limit:
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]?i?B", str(memory_limit).strip()):
            raise BadInputError(f"memory limit '{memory_limit}' is not a size such as 4GB or 512MiB")
        con.execute(f"SET memory_limit='{str(memory_limit).strip()}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def load_data(
    data_dir: Path | str,
    mapping: DataMapping | None = None,
    clock: pd.Timestamp | None = None,
    require_leads: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> LoadedData:
    """Read `leads`, `events` and `outcomes` from `data_dir` and validate them.

    `data_dir` is a folder or a database URL (`leadq.data.database`); either way the tables
    named by the mapping's `tables:` section are judged by the same policy. In a folder, a
    table is a file or folder stem, a path, or a list of them (`leadq.data.read_tables`); CSV is
    read in its sniffed or configured dialect. With `stage_columns`, the outcomes table is
    optional."""
    mapping = mapping or DataMapping()
    if is_database_url(data_dir):
        tables, sources = read_database_tables(data_dir, mapping, TABLES)
        return load_frames(*(tables[t] for t in TABLES), mapping, clock, require_leads, con, sources=sources)
    con = con or connect()
    sources, notes = {}, []
    for table in TABLES:
        # Parquet is scanned again cheaply when needed; CSV is parsed once. File names reach
        # DuckDB as bound values, never pasted into SQL text.
        required = table != "outcomes" or not mapping.stage_columns
        found = locate_tables(Path(data_dir), table, folder_table_name(mapping, table, data_dir), required=required)
        if found is None:
            continue
        read = read_table(con, f"raw_{table}", *found, options=mapping.csv)
        gather_listed_columns(con, f"raw_{table}", mapping.listed_columns(table))
        sources[table] = read.source
        notes += read.notes
    return _validate(con, sources, mapping, clock, require_leads, notes)


def folder_table_name(mapping: DataMapping, table: str, data_dir) -> str | list[str] | None:
    """The file or folder name(s) of contract table `table` in a data folder (the mapping's
    `tables:` entry; None: the contract's name); a `query:` needs a database."""
    source = mapping.tables.get(table)
    if isinstance(source, TableSource):
        if source.query is not None:
            raise BadInputError(f"{data_dir}: the mapping gives a query for '{table}'; queries need a "
                                "database source (postgresql://... or duckdb:///...)")
        return source.table
    return source


def attribute_columns(columns, mapping: DataMapping, id_src: str, created_src: str) -> list[str]:
    """The leads table's columns that are attributes: all but the id and the creation time
    (and the columns they are gathered from), the stage columns and the mapping's
    `exclude_columns`."""
    reserved = {id_src, created_src, "lead_id", "created_at", *mapping.stage_columns.values(),
                *mapping.exclude_columns}
    for name in (id_src, created_src):
        reserved.update(mapping.listed_columns("leads").get(name, []))
    return [c for c in columns if c not in reserved]


def load_frames(
    leads: pd.DataFrame | pa.Table,
    events: pd.DataFrame | pa.Table,
    outcomes: pd.DataFrame | pa.Table,
    mapping: DataMapping | None = None,
    clock: pd.Timestamp | None = None,
    require_leads: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
    sources: dict[str, str] | None = None,
) -> LoadedData:
    """Validate in-memory tables (pandas or Arrow) exactly as `load_data` validates files.

    `sources` names each table in messages and fingerprints (default `<leads frame>`, ...)."""
    con = con or connect()
    for table, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
        con.register(f"frame_{table}", frame)
        con.execute(f"CREATE OR REPLACE VIEW raw_{table} AS SELECT * FROM frame_{table}")
    sources = sources or {t: f"<{t} frame>" for t in TABLES}
    return _validate(con, sources, mapping or DataMapping(), clock, require_leads)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {relation}").fetchall()}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _timestamp_expr(con, table: str, contract_col: str, column: str, column_type: str, mapping: DataMapping) -> str:
    """The column as TIMESTAMPTZ in the mapping's format for it (`leadq.data.timestamps`);
    unparseable text and infinite timestamps (PostgreSQL exports `-infinity`) are NULL, i.e.
    unparseable under the policy."""
    fmt = mapping.timestamp_format(table, contract_col, column)
    value = timestamp_sql(con, column, column_type, fmt, f"mapping timestamps.{table}")
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def _text_expr(column: str) -> str:
    """Text without surrounding spaces, empty as NULL (trimming only values that need it is
    several times cheaper than trimming every value)."""
    value = f"CAST({_quote(column)} AS VARCHAR)"
    trimmed = f"CASE WHEN starts_with({value}, ' ') OR ends_with({value}, ' ') THEN trim({value}, ' ') ELSE {value} END"
    return f"nullif({trimmed}, '')"


def _require_columns(con, table: str, source: str, mapping: DataMapping) -> dict[str, str]:
    columns = _columns(con, f"raw_{table}")
    n_rows = con.execute(f"SELECT count(*) FROM raw_{table}").fetchall()[0][0]
    require_columns(columns, n_rows, table, source, mapping)
    return columns


def _parse_required(con, table: str, source: str, exprs: dict[str, str], mapping: DataMapping,
                    report: list[str], stage: bool = True) -> str:
    """View `parsed_TABLE` with the required columns parsed, fatal or reported as the policy says,
    and (with `stage`) table `stage_TABLE` of its complete rows. Returns the completeness test."""
    select = ", ".join(f"{expr} AS {_quote(name)}" for name, expr in exprs.items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW parsed_{table} AS SELECT {select} FROM raw_{table}")
    required = REQUIRED_COLUMNS[table]
    counts = con.execute(
        "SELECT count(*), "
        + ", ".join(f"count(*) FILTER (WHERE {_quote(c)} IS NULL)" for c in required)
        + f" FROM parsed_{table}"
    ).fetchall()[0]
    n_rows, bad_counts = counts[0], counts[1:]
    for contract_col, n_bad in zip(required, bad_counts):
        report_unparseable(source, mapping.source_column(table, contract_col), n_bad, n_rows, mapping, report)
    keep = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in required)
    if stage:
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage_{table} AS SELECT * FROM parsed_{table} WHERE {keep}")
    return keep


def _drop_where(con, table: str, condition: str, message: str, report: list[str]) -> None:
    n_bad = con.execute(f"SELECT count(*) FROM stage_{table} WHERE {condition}").fetchall()[0][0]
    if n_bad:
        con.execute(f"DELETE FROM stage_{table} WHERE {condition}")
        report.append(message.format(n=n_bad))


def _classify_attributes(con, attributes: list[str]) -> tuple[list[str], list[str]]:
    """Split the attribute columns of `leads` into numeric and categorical by what their values
    parse as. Columns keep their stored values: readers apply a type with
    `leadq.data.attributes` (a model applies the types recorded in its spec)."""
    types = _columns(con, "leads")
    numeric, categorical, text = [], [], []
    for name in attributes:
        column_type = types[name].upper()
        if column_type == "VARCHAR":
            text.append(name)
        elif any(column_type.startswith(t) for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                                       "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                                                       "FLOAT", "DOUBLE", "DECIMAL", "REAL")):
            numeric.append(name)
        else:
            categorical.append(name)
    n_rows = con.execute("SELECT count(*) FROM leads").fetchall()[0][0]

    def filled(name: str) -> str:
        return f"nullif(trim({_quote(name)}), '')"

    def filled_and_parsed(names: list[str], limit: str = "") -> dict[str, tuple[int, int]]:
        row = con.execute("SELECT " + ", ".join(f"count({filled(n)}), count({numeric_sql(n)})"
                                                for n in names) + f" FROM (SELECT * FROM leads {limit})").fetchall()[0]
        return {name: (row[2 * i], row[2 * i + 1]) for i, name in enumerate(names)}

    counts = filled_and_parsed(text, f"LIMIT {CLASSIFY_SAMPLE_ROWS}") if text else {}
    if n_rows > CLASSIFY_SAMPLE_ROWS:
        # A sample with more unparseable values than the whole column may hold already decides;
        # the other columns are counted in full.
        undecided = [name for name, (n_filled, n_parsed) in counts.items()
                     if n_filled - n_parsed <= (1 - NUMERIC_SHARE_FOR_NUMBER) * n_rows]
        if undecided:
            counts.update(filled_and_parsed(undecided))
    for name, (n_filled, n_parsed) in counts.items():
        if n_filled and n_parsed / n_filled >= NUMERIC_SHARE_FOR_NUMBER:
            numeric.append(name)
        else:
            categorical.append(name)
    order = {name: i for i, name in enumerate(attributes)}
    return sorted(numeric, key=order.get), sorted(categorical, key=order.get)


def _validate_events(con, src: str, mapping: DataMapping, clock: pd.Timestamp, report: list[str]
                     ) -> tuple[EventColumns, list[str]]:
    """Parse, join to the leads and judge every event in one scan; report the drops and return
    the kept events as arrays, and which optional columns the file has. Also defines the
    `events` view (the same rows, in SQL)."""
    events_cols = _require_columns(con, "events", src, mapping)
    clock_sql = f"TIMESTAMPTZ '{clock.isoformat()}'"
    type_src = mapping.source_column("events", "event_type")
    ts_src = mapping.source_column("events", "ts")
    id_src = mapping.source_column("events", "lead_id")
    duration_src = mapping.source_column("events", "duration_s")
    select = {
        "lead_id": _text_expr(id_src),
        "ts": _timestamp_expr(con, "events", "ts", ts_src, events_cols[ts_src], mapping),
        "event_type": _text_expr(type_src),
    }
    has_duration = False
    for optional in OPTIONAL_EVENT_COLUMNS:
        source_col = mapping.source_column("events", optional)
        if source_col not in events_cols:
            if source_col != optional:
                raise BadInputError(f"{src}: column '{source_col}' (mapped to '{optional}') is missing in all "
                                    f"{con.execute('SELECT count(*) FROM raw_events').fetchall()[0][0]} rows")
            select[optional] = "CAST(NULL AS DOUBLE)" if optional == "duration_s" else "CAST(NULL AS VARCHAR)"
        elif optional == "duration_s":
            has_duration = True
            # Unparseable text and non-finite numbers are missing durations, counted as unparseable.
            if events_cols[source_col].upper() == "VARCHAR":
                text = _text_expr(source_col)
                number = f"TRY_CAST({text} AS DOUBLE)"
                unparsed = f"({text} IS NOT NULL AND NOT coalesce(isfinite({number}), false))"
            else:
                number = f"CAST({_quote(source_col)} AS DOUBLE)"
                unparsed = f"coalesce(isinf({number}), false)"
            select[optional] = f"CASE WHEN isfinite({number}) THEN {number} END"
        else:
            select[optional] = _text_expr(source_col)
    if has_duration:
        select["duration_unparsed"] = unparsed
    rule_reads = rule_columns(mapping, events_cols, src, lambda: con.execute(
        "SELECT count(*) FROM raw_events").fetchall()[0][0])
    select.update({alias: _text_expr(source_col) for alias, source_col in rule_reads.items()})
    columns = ", ".join(f"{expr} AS {_quote(name)}" for name, expr in select.items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW parsed_events AS SELECT {columns} FROM raw_events")
    types = event_type_sql(con, mapping, "parsed_events", rule_reads)
    joined = ("FROM parsed_events e LEFT JOIN leads l ON l.lead_id = e.lead_id "
              "LEFT JOIN event_type_codes c ON c.source = e.event_type")
    # Every row gets the first drop rule it breaks (0: kept).
    reasons = [
        "e.lead_id IS NULL", "e.ts IS NULL", "e.event_type IS NULL", "l.lead_key IS NULL",
        "e.ts < l.created_at", f"e.ts > {clock_sql}", "e.duration_s < 0",
    ]
    reason = "CASE " + " ".join(f"WHEN {r} THEN {i + 1}" for i, r in enumerate(reasons)) + " ELSE 0 END"
    unparsed = ", e.duration_unparsed" if has_duration else ""
    fetched = con.execute(
        f"""
        SELECT coalesce(l.lead_key, 0) AS lead_key, coalesce(epoch_us(e.ts), 0) AS us,
               {types.code} AS type_code, coalesce(e.duration_s, CAST('NaN' AS DOUBLE)) AS duration_s,
               CASE WHEN e.page IS NULL THEN 0 ELSE greatest(hash(e.page), 1) END AS page_hash,
               CASE WHEN e.content_id IS NULL THEN 0 ELSE greatest(hash(e.content_id), 1) END AS content_hash,
               CAST({reason} AS TINYINT) AS drop_reason{unparsed}
        {joined}
        """
    ).fetchnumpy()
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW valid_events AS SELECT l.lead_key, e.ts, {types.name} AS event_type, e.duration_s, "
        f"e.page, e.content_id, e.channel {joined} WHERE {reason} = 0"
    )
    con.execute("CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM valid_events")
    drop_reason = fetched.pop("drop_reason")
    counts = np.bincount(drop_reason, minlength=len(reasons) + 1)
    n_rows = len(drop_reason)
    for code, source_col in ((1, id_src), (2, ts_src), (3, type_src)):
        report_unparseable(src, source_col, int(counts[code]), n_rows, mapping, report)
    check_unknown_lead_events(src, id_src, int(counts[4]), n_rows, mapping,
                              lambda: id_format_hint(con, "parsed_events"))
    report_drops(src, event_drop_reasons(mapping, clock), dict(zip(
        ("unknown_lead", "before_created", "after_clock", "negative_duration"), counts[4:8].tolist())), report)
    bad_duration = int(np.count_nonzero(fetched.pop("duration_unparsed") & (drop_reason == 0))) if has_duration else 0
    if bad_duration:
        report.append(unparseable_duration_line(src, duration_src, bad_duration))
    if counts[0] < n_rows:
        keep = drop_reason == 0
        fetched = {name: values[keep] for name, values in fetched.items()}
    repeated = exact_duplicates(fetched)
    if repeated is not None:
        fetched = {name: values[~repeated] for name, values in fetched.items()}
        report.append(duplicate_events_line(src, int(repeated.sum())))
        con.execute(
            "CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM valid_events QUALIFY row_number() OVER "
            "(PARTITION BY lead_key, ts, event_type, page, content_id, duration_s) = 1"
        )
    present = [c for c in OPTIONAL_EVENT_COLUMNS if mapping.source_column("events", c) in events_cols]
    return EventColumns(
        lead_key=np.asarray(fetched["lead_key"], dtype=np.int32), us=np.asarray(fetched["us"], dtype=np.int64),
        type_code=np.asarray(fetched["type_code"], dtype=np.int32), type_names=types.names,
        duration_s=np.asarray(fetched["duration_s"], dtype=np.float64),
        page_hash=np.asarray(fetched["page_hash"], dtype=np.uint64),
        content_hash=np.asarray(fetched["content_hash"], dtype=np.uint64),
    ), present


def _number_leads(con, query: str) -> None:
    """Table `leads`: the rows of `query` with `lead_key` 1, 2, ... in `lead_id` order.

    The rows are stored sorted (a parallel sort) and numbered by their row id, which is cheaper
    than a `row_number()` window over all leads."""
    preserve = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE sorted_leads AS {query} ORDER BY lead_id")
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
    con.execute("CREATE OR REPLACE TABLE leads AS SELECT CAST(rowid + 1 AS INTEGER) AS lead_key, * FROM sorted_leads")
    con.execute("DROP TABLE sorted_leads")


def _validate(con, sources: dict[str, str], mapping: DataMapping, clock, require_leads: bool,
              notes: list[str] | None = None) -> LoadedData:
    clock = pd.Timestamp.now(tz="UTC") if clock is None else pd.Timestamp(clock)
    clock = clock.tz_localize("UTC") if clock.tzinfo is None else clock.tz_convert("UTC")
    clock_sql = f"TIMESTAMPTZ '{clock.isoformat()}'"
    report: list[str] = list(notes or [])

    # leads
    leads_cols = _require_columns(con, "leads", sources["leads"], mapping)
    id_src = mapping.source_column("leads", "lead_id")
    created_src = mapping.source_column("leads", "created_at")
    attributes = attribute_columns(leads_cols, mapping, id_src, created_src)
    absent = [c for c in mapping.exclude_columns if c not in leads_cols]
    if absent:
        report.append(f"{sources['leads']}: exclude_columns in the mapping name column(s) it does not have: "
                      + ", ".join(absent))
    exprs = {
        "lead_id": _text_expr(id_src),
        "created_at": _timestamp_expr(con, "leads", "created_at", created_src, leads_cols[created_src], mapping),
    }
    exprs.update({a: _quote(a) for a in attributes})
    keep = _parse_required(con, "leads", sources["leads"], exprs, mapping, report, stage=False)
    _number_leads(con, f"SELECT * FROM parsed_leads WHERE {keep}")
    n_leads, n_ids, n_future = con.execute(
        f"SELECT count(*), count(DISTINCT lead_id), count(*) FILTER (WHERE created_at > {clock_sql}) FROM leads"
    ).fetchall()[0]
    if n_leads != n_ids:
        n_dup_rows = con.execute(
            "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM leads GROUP BY lead_id HAVING n > 1)"
        ).fetchall()[0][0]
        check_lead_ids(sources["leads"], id_src, n_leads, n_ids, int(n_dup_rows))
    if n_future:
        report.append(future_leads_line(sources["leads"], created_src, n_future, clock))
        _number_leads(con, f"SELECT * EXCLUDE (lead_key) FROM leads WHERE created_at <= {clock_sql}")
    check_leads_left(sources["leads"], id_src, n_leads - n_future, require_leads)
    numeric, categorical = _classify_attributes(con, attributes)

    events, event_columns = _validate_events(con, sources["events"], mapping, clock, report)

    # outcomes
    if mapping.stage_columns:
        sources["outcomes"] = derive_outcomes(con, mapping, sources["leads"], sources.get("outcomes"))
    outcome_cols = _require_columns(con, "outcomes", sources["outcomes"], mapping)
    reached_src = mapping.source_column("outcomes", "reached_at")
    exprs = {
        "lead_id": _text_expr(mapping.source_column("outcomes", "lead_id")),
        "stage": stage_sql(con, mapping, _text_expr(mapping.source_column("outcomes", "stage"))),
        "reached_at": _timestamp_expr(con, "outcomes", "reached_at", reached_src, outcome_cols[reached_src], mapping),
    }
    _parse_required(con, "outcomes", sources["outcomes"], exprs, mapping, report)
    src = sources["outcomes"]
    reasons = outcome_drop_reasons(src, mapping, clock)
    _drop_where(con, "outcomes", "lead_id NOT IN (SELECT lead_id FROM leads)", reasons["unknown_lead"], report)
    _drop_where(con, "outcomes", f"reached_at > {clock_sql}", reasons["after_clock"], report)
    con.execute("CREATE OR REPLACE TABLE outcomes AS SELECT * FROM stage_outcomes")
    con.execute("DROP TABLE stage_outcomes")
    return LoadedData(con=con, sources=sources, clock=clock, events=events, report=report,
                      numeric_attributes=numeric, categorical_attributes=categorical,
                      max_bad_fraction=mapping.max_bad_fraction, event_columns=event_columns)
