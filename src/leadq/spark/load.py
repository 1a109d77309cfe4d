"""Loading the three tables on Spark under the one bad-input policy (`leadq.data.policy`):
the same discovery as `leadq.core.files.find_table`, the same fatal errors and dropped-row
report as the in-process loader, and `leads`, `events`, `outcomes` registered as temp views with
the contract's names, timestamps as UTC instants.

The join key `lead_key` is the lead id itself (text) on Spark: the DuckDB engine numbers leads
densely, which on Spark would take a global sort through one partition, and a hash of the id
could collide. The SQL only joins on it, so any unique key gives the same features.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.contract import OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS, TABLES
from leadq.data.load import folder_table_name
from leadq.data.mapping import DataMapping
from leadq.data.read_tables import locate_tables
from leadq.data.policy import (
    check_lead_ids,
    check_leads_left,
    check_unknown_lead_events,
    event_drop_reasons,
    future_leads_line,
    is_numeric_attribute,
    outcome_drop_reasons,
    report_drops,
    report_unparseable,
    require_columns,
    unparseable_duration_line,
)
from leadq.spark.session import require_pyspark

TOKEN_CONF = "leadq.tables.token"  # set on the session by load_spark_tables

_NUMERIC_TYPES = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")
_TIMESTAMP_TYPES = ("TimestampType", "TimestampNTZType", "DateType")

# Cached DataFrames per loaded-tables token: {"tables": [...], "prepared": (spec_key, [...])}.
_STATE: dict[str, dict[str, Any]] = {}



@dataclass
class SparkLoaded:
    """Validated tables registered as Spark temp views, with what was dropped and why.

    Mirrors `leadq.data.load.LoadedData` (sources, clock, report, attribute kinds), so helpers such as
    `leadq.features.examples.infer_attribute_spec` accept it.
    """

    spark: Any
    sources: dict[str, str]
    clock: pd.Timestamp
    token: str
    report: list[str] = field(default_factory=list)
    numeric_attributes: list[str] = field(default_factory=list)
    categorical_attributes: list[str] = field(default_factory=list)

    def frame(self, table: str) -> pd.DataFrame:
        """One validated table as a pandas DataFrame (collects it to the driver)."""
        return self.spark.table(table).toPandas()

    def count(self, table: str) -> int:
        """Row count of a validated table."""
        return int(self.spark.table(table).count())

    def history_end(self) -> pd.Timestamp | None:
        """Latest timestamp of any event or outcome (None when there are none)."""
        row = self.spark.sql(
            "SELECT greatest((SELECT max(unix_micros(ts)) FROM events), "
            "(SELECT max(unix_micros(reached_at)) FROM outcomes)) AS us"
        ).collect()[0]
        return None if row["us"] is None else pd.Timestamp(int(row["us"]), unit="us", tz="UTC")


def quote_column(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def sql_literal(value: str) -> str:
    """A Spark SQL string literal (for the few constants that are not user input)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def utc_micros(value) -> int:
    """Microseconds since the epoch of a timestamp read as UTC."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1000)


def _nanosecond_columns(files: list[Path]) -> set[str]:
    """Columns stored as nanosecond timestamps in any of the Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = set()
    for path in files:
        for fld in pq.read_schema(path):
            if pa.types.is_timestamp(fld.type) and fld.type.unit == "ns":
                names.add(fld.name)
    return names


def _read_table(spark, files: list[Path], fmt: str):
    from pyspark.sql import functions as F

    paths = [str(p) for p in files]
    if fmt == "parquet":
        nanos = _nanosecond_columns(files)
        if nanos:
            # Spark cannot read INT64 TIMESTAMP(NANOS) but as longs; turned back into instants below.
            spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        frame = spark.read.option("mergeSchema", "true").parquet(*paths)
        for name in nanos:
            if type(frame.schema[name].dataType).__name__ == "LongType":
                frame = frame.withColumn(name, F.timestamp_micros(F.floor(F.col(quote_column(name)) / 1000)))
        return frame
    frames = [
        spark.read.option("header", "true").option("inferSchema", "false").option("escape", '"').csv(p)
        for p in paths
    ]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def _timestamp_expr(column: str, data_type) -> str:
    kind = type(data_type).__name__
    col = quote_column(column)
    if kind in _TIMESTAMP_TYPES:
        return f"CAST({col} AS TIMESTAMP)"
    if kind == "StringType":
        return f"try_cast(trim({col}) AS TIMESTAMP)"
    return "CAST(NULL AS TIMESTAMP)"  # numbers and the rest are not timestamps (unparseable)


def _text_expr(column: str) -> str:
    return f"nullif(trim(CAST({quote_column(column)} AS STRING)), '')"


def _require_columns(raw, table: str, source: str, mapping: DataMapping) -> dict:
    types = {f.name: f.dataType for f in raw.schema.fields}
    missing = any(mapping.source_column(table, c) not in types for c in REQUIRED_COLUMNS[table])
    require_columns(types, raw.count() if missing else 0, table, source, mapping)
    return types


def _parse_required(spark, table: str, source: str, exprs: dict[str, str], mapping: DataMapping,
                    report: list[str]) -> None:
    """Register `stage_<table>`: parsed, with the required columns present; fatal or report."""
    select = ", ".join(f"{expr} AS {quote_column(name)}" for name, expr in exprs.items())
    spark.sql(f"SELECT {select} FROM raw_{table}").createOrReplaceTempView(f"parsed_{table}")
    required = REQUIRED_COLUMNS[table]
    aggregates = ["count(*) AS n_rows"] + [f"count_if({quote_column(c)} IS NULL) AS bad_{i}" for i, c in enumerate(required)]
    row = spark.sql(f"SELECT {', '.join(aggregates)} FROM parsed_{table}").collect()[0]
    for i, contract_col in enumerate(required):
        report_unparseable(source, mapping.source_column(table, contract_col), int(row[f"bad_{i}"]),
                            int(row["n_rows"]), mapping, report)
    keep = " AND ".join(f"{quote_column(c)} IS NOT NULL" for c in required)
    spark.sql(f"SELECT * FROM parsed_{table} WHERE {keep}").createOrReplaceTempView(f"stage_{table}")


def _classify_attributes(spark, attributes: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Numeric and categorical attributes, as `leadq.data.load` decides, and each one's select expression."""
    types = {f.name: f.dataType for f in spark.table("stage_leads").schema.fields}
    numeric, categorical, exprs, check = [], [], {}, []
    for name in attributes:
        kind = type(types[name]).__name__
        exprs[name] = quote_column(name)
        if kind in _NUMERIC_TYPES:
            numeric.append(name)
        elif kind == "StringType":
            check.append(name)
        else:
            categorical.append(name)
    if check:
        aggregates = []
        for i, name in enumerate(check):
            value = f"nullif(trim({quote_column(name)}), '')"
            aggregates += [f"count({value}) AS f{i}", f"count(try_cast({value} AS DOUBLE)) AS p{i}"]
        row = spark.sql(f"SELECT {', '.join(aggregates)} FROM stage_leads").collect()[0]
        for i, name in enumerate(check):
            if is_numeric_attribute(int(row[f"f{i}"]), int(row[f"p{i}"])):
                exprs[name] = f"try_cast(nullif(trim({quote_column(name)}), '') AS DOUBLE)"
                numeric.append(name)
            else:
                categorical.append(name)
    order = {name: i for i, name in enumerate(attributes)}
    return sorted(numeric, key=order.get), sorted(categorical, key=order.get), exprs


def storage_level():
    """Where cached tables live (memory, spilling to disk)."""
    from pyspark import StorageLevel

    return StorageLevel.MEMORY_AND_DISK


def _drop_counts(spark, relation: str, reasons: list[str]) -> list[int]:
    """Rows of `relation` per drop reason (its `drop_reason` column holds the reason's index + 1)."""
    rows = spark.sql(
        f"SELECT drop_reason, count(*) AS n FROM {relation} WHERE drop_reason IS NOT NULL GROUP BY drop_reason"
    ).collect()
    counts = {int(r["drop_reason"]): int(r["n"]) for r in rows}
    return [counts.get(i + 1, 0) for i in range(len(reasons))]


def _release(token: str | None) -> None:
    state = _STATE.pop(token, None) if token else None
    if not state:
        return
    frames = list(state.get("tables", []))
    if state.get("prepared"):
        frames += state["prepared"][1]
    for frame in frames:
        try:
            frame.unpersist()
        except Exception:  # a stopped session has nothing left to free
            pass


def load_spark_tables(
    spark,
    data_dir: Path,
    mapping: DataMapping | None = None,
    clock: pd.Timestamp | None = None,
    require_leads: bool = True,
) -> SparkLoaded:
    """Read `leads`, `events` and `outcomes` from `data_dir` into temp views, validated.

    Files are found as `leadq.data.read_tables.locate_tables` finds them (NAME.parquet, NAME.csv,
    a folder NAME/, or the mapping's `tables:`). Mapping keys that reshape an export beyond names
    and values (event rules, stages, stage columns, timestamp formats, CSV dialects, columns
    gathered from lists) are refused. The bad-input policy is `leadq.data.load`'s, computed in
    Spark: fatal errors raise `BadInputError`; dropped rows are reported in `SparkLoaded.report`,
    worded as the DuckDB loader words them.
    """
    mapping = mapping or DataMapping()
    unsupported = [key for key in mapping.reshapes() if key != "tables"]
    if unsupported or any(mapping.listed_columns(t) for t in TABLES):
        keys = ", ".join(unsupported or ["columns mapped to lists"])
        raise BadInputError(f"mapping: the Spark engine reads files and maps column names and event-type values; "
                            f"it does not support {keys} yet: use --engine duckdb")
    require_pyspark()
    sources = {}
    for table in TABLES:
        files, fmt = locate_tables(Path(data_dir), table, folder_table_name(mapping, table, data_dir))
        try:
            raw = _read_table(spark, files, fmt)
        except Exception as exc:  # AnalysisException and friends: a file Spark cannot read
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInputError(f"{files[0]}: cannot be read as {fmt} ({first})") from None
        raw.createOrReplaceTempView(f"raw_{table}")
        sources[table] = str(files[0]) if len(files) == 1 else f"{files[0].parent}/"
    return _validate(spark, sources, mapping or DataMapping(), clock, require_leads)


def load_spark_frames(
    spark,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    outcomes: pd.DataFrame,
    mapping: DataMapping | None = None,
    clock: pd.Timestamp | None = None,
    require_leads: bool = True,
) -> SparkLoaded:
    """Validate in-memory pandas tables exactly as `load_spark_tables` validates files."""
    require_pyspark()
    for table, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
        _pandas_to_spark(spark, frame).createOrReplaceTempView(f"raw_{table}")
    sources = {t: f"<{t} frame>" for t in TABLES}
    return _validate(spark, sources, mapping or DataMapping(), clock, require_leads)


def _pandas_to_spark(spark, frame: pd.DataFrame):
    """A pandas frame as a Spark DataFrame with an explicit schema: numbers, booleans,
    timestamps (UTC; naive taken as UTC) and text (anything else, as strings)."""
    from pyspark.sql import types as T

    fields, columns = [], {}
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_bool_dtype(s.dtype):
            fields.append(T.StructField(str(name), T.BooleanType()))
            columns[name] = s.astype(object).where(s.notna(), None)
        elif pd.api.types.is_integer_dtype(s.dtype):
            fields.append(T.StructField(str(name), T.LongType()))
            columns[name] = s.astype("Int64").astype(object).where(s.notna(), None)
        elif pd.api.types.is_float_dtype(s.dtype):
            fields.append(T.StructField(str(name), T.DoubleType()))
            columns[name] = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            fields.append(T.StructField(str(name), T.TimestampType()))
            utc = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
            columns[name] = utc.astype("datetime64[us, UTC]")
        else:
            fields.append(T.StructField(str(name), T.StringType()))
            columns[name] = s.astype(object).map(lambda v: None if v is None or v is pd.NA or
                                                 (isinstance(v, float) and np.isnan(v)) else str(v))
    converted = pd.DataFrame(columns, index=range(len(frame))) if len(frame.columns) else pd.DataFrame()
    if len(frame.columns):
        converted.columns = [str(c) for c in frame.columns]
    schema = T.StructType(fields)
    if len(converted) == 0:
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(converted, schema)


def _validate(spark, sources: dict[str, str], mapping: DataMapping, clock, require_leads: bool) -> SparkLoaded:
    clock = pd.Timestamp.now(tz="UTC") if clock is None else pd.Timestamp(clock)
    clock = clock.tz_localize("UTC") if clock.tzinfo is None else clock.tz_convert("UTC")
    clock_us = utc_micros(clock)
    report: list[str] = []
    # Free the previous load's caches first: a reload of the same data has the same plans, and
    # unpersisting afterwards would drop the new caches with the old.
    _release(spark.conf.get(TOKEN_CONF, None))
    spark.conf.unset(TOKEN_CONF)
    token = uuid.uuid4().hex

    # leads
    raw_leads = spark.table("raw_leads")
    leads_cols = _require_columns(raw_leads, "leads", sources["leads"], mapping)
    id_src = mapping.source_column("leads", "lead_id")
    created_src = mapping.source_column("leads", "created_at")
    attributes = [c for c in leads_cols if c not in (id_src, created_src) and c not in ("lead_id", "created_at")]
    exprs = {"lead_id": _text_expr(id_src), "created_at": _timestamp_expr(created_src, leads_cols[created_src])}
    exprs.update({a: quote_column(a) for a in attributes})
    _parse_required(spark, "leads", sources["leads"], exprs, mapping, report)
    row = spark.sql(
        f"SELECT count(*) AS n, count(DISTINCT lead_id) AS ids, "
        f"count_if(unix_micros(created_at) > {clock_us}) AS late FROM stage_leads"
    ).collect()[0]
    n_leads, n_ids, n_late = int(row["n"]), int(row["ids"]), int(row["late"])
    if n_leads != n_ids:
        n_dup_rows = spark.sql(
            "SELECT coalesce(sum(n), 0) AS rows FROM "
            "(SELECT count(*) AS n FROM stage_leads GROUP BY lead_id HAVING count(*) > 1)"
        ).collect()[0]["rows"]
        check_lead_ids(sources["leads"], id_src, n_leads, n_ids, int(n_dup_rows))
    if n_late:
        report.append(future_leads_line(sources["leads"], created_src, n_late, clock))
        spark.sql(f"SELECT * FROM stage_leads WHERE unix_micros(created_at) <= {clock_us}") \
            .createOrReplaceTempView("stage_leads")
    check_leads_left(sources["leads"], id_src, n_leads - n_late, require_leads)
    numeric, categorical, attr_exprs = _classify_attributes(spark, attributes)
    select = ", ".join(["lead_id AS lead_key", "lead_id", "created_at"]
                       + [f"{attr_exprs[a]} AS {quote_column(a)}" for a in attributes])
    leads = spark.sql(f"SELECT {select} FROM stage_leads").persist(storage_level())
    leads.createOrReplaceTempView("leads")

    # events: parsed once, every drop rule counted in one aggregate, then kept in one pass
    raw_events = spark.table("raw_events")
    events_cols = _require_columns(raw_events, "events", sources["events"], mapping)
    src = sources["events"]
    type_src = mapping.source_column("events", "event_type")
    ts_src = mapping.source_column("events", "ts")
    id_src_events = mapping.source_column("events", "lead_id")
    duration_src = mapping.source_column("events", "duration_s")
    select = {
        "lead_id": _text_expr(id_src_events),
        "ts": _timestamp_expr(ts_src, events_cols[ts_src]),
        "event_type": _text_expr(type_src),
    }
    duration_is_text = False
    for optional in OPTIONAL_EVENT_COLUMNS:
        source_col = mapping.source_column("events", optional)
        if source_col not in events_cols:
            if source_col != optional:
                raise BadInputError(f"{src}: column '{source_col}' (mapped to '{optional}') is missing in all "
                                    f"{raw_events.count()} rows")
            select[optional] = "CAST(NULL AS DOUBLE)" if optional == "duration_s" else "CAST(NULL AS STRING)"
        elif optional == "duration_s":
            duration_is_text = type(events_cols[source_col]).__name__ == "StringType"
            select[optional] = (f"try_cast({_text_expr(source_col)} AS DOUBLE)" if duration_is_text
                                else f"CAST({quote_column(source_col)} AS DOUBLE)")
        else:
            select[optional] = _text_expr(source_col)
    if duration_is_text:
        select["duration_text"] = _text_expr(duration_src)
    columns = ", ".join(f"{expr} AS {quote_column(name)}" for name, expr in select.items())
    spark.sql(f"SELECT {columns} FROM raw_events").createOrReplaceTempView("parsed_events")
    parsed_ok = "e.lead_id IS NOT NULL AND e.ts IS NOT NULL AND e.event_type IS NOT NULL"
    known = f"{parsed_ok} AND l.lead_id IS NOT NULL"
    after_created = f"{known} AND e.ts >= l.created_at"
    in_past = f"{after_created} AND unix_micros(e.ts) <= {clock_us}"
    bad_duration_sql = ("count_if(e.duration_text IS NOT NULL AND e.duration_s IS NULL)"
                        if duration_is_text else "CAST(0 AS BIGINT)")
    row = spark.sql(
        f"""
        SELECT count(*) AS n_rows,
               count_if(e.lead_id IS NULL) AS bad_id,
               count_if(e.ts IS NULL) AS bad_ts,
               count_if(e.event_type IS NULL) AS bad_type,
               count_if({parsed_ok} AND l.lead_id IS NULL) AS unknown,
               count_if({known} AND e.ts < l.created_at) AS before,
               count_if({after_created} AND unix_micros(e.ts) > {clock_us}) AS future,
               count_if({in_past} AND e.duration_s < 0) AS negative,
               {bad_duration_sql} AS bad_duration
        FROM parsed_events e LEFT JOIN leads l ON l.lead_id = e.lead_id
        """
    ).collect()[0]
    n_rows = int(row["n_rows"])
    for source_col, key in ((id_src_events, "bad_id"), (ts_src, "bad_ts"), (type_src, "bad_type")):
        report_unparseable(src, source_col, int(row[key]), n_rows, mapping, report)
    check_unknown_lead_events(src, id_src_events, int(row["unknown"]), n_rows, mapping,
                              lambda: "check that both tables write ids alike (e.g. '007' vs '7')")
    report_drops(src, event_drop_reasons(mapping, clock), {
        "unknown_lead": row["unknown"], "before_created": row["before"],
        "after_clock": row["future"], "negative_duration": row["negative"],
    }, report)
    if int(row["bad_duration"] or 0):
        report.append(unparseable_duration_line(src, duration_src, int(row["bad_duration"])))
    event_type = "e.event_type"
    if mapping.event_types:
        whens = " ".join(f"WHEN {sql_literal(k.strip())} THEN {sql_literal(v.strip())}" for k, v in mapping.event_types.items())
        event_type = f"CASE e.event_type {whens} ELSE e.event_type END"
    events = spark.sql(
        f"""
        SELECT l.lead_key, e.ts, {event_type} AS event_type, e.duration_s, e.page, e.content_id, e.channel
        FROM parsed_events e JOIN leads l ON l.lead_id = e.lead_id
        WHERE {in_past} AND coalesce(e.duration_s, 0) >= 0
        """
    ).persist(storage_level())
    events.createOrReplaceTempView("events")

    # outcomes
    raw_outcomes = spark.table("raw_outcomes")
    outcome_cols = _require_columns(raw_outcomes, "outcomes", sources["outcomes"], mapping)
    reached_src = mapping.source_column("outcomes", "reached_at")
    exprs = {
        "lead_id": _text_expr(mapping.source_column("outcomes", "lead_id")),
        "stage": f"lower({_text_expr(mapping.source_column('outcomes', 'stage'))})",
        "reached_at": _timestamp_expr(reached_src, outcome_cols[reached_src]),
    }
    _parse_required(spark, "outcomes", sources["outcomes"], exprs, mapping, report)
    src = sources["outcomes"]
    spark.sql(
        "SELECT o.*, CASE WHEN l.lead_id IS NULL THEN 1 "
        f"WHEN unix_micros(o.reached_at) > {clock_us} THEN 2 END AS drop_reason "
        "FROM stage_outcomes o LEFT JOIN leads l ON l.lead_id = o.lead_id"
    ).createOrReplaceTempView("flagged_outcomes")
    reasons = outcome_drop_reasons(src, mapping, clock)
    report_drops(src, reasons, dict(zip(reasons, _drop_counts(spark, "flagged_outcomes", list(reasons)))), report)
    outcomes = spark.sql("SELECT lead_id, stage, reached_at FROM flagged_outcomes WHERE drop_reason IS NULL")
    outcomes = outcomes.persist(storage_level())
    outcomes.createOrReplaceTempView("outcomes")

    _STATE[token] = {"tables": [leads, events, outcomes]}
    spark.conf.set(TOKEN_CONF, token)
    return SparkLoaded(spark=spark, sources=sources, clock=clock, token=token, report=report,
                       numeric_attributes=numeric, categorical_attributes=categorical)


def loaded_state(spark) -> dict[str, Any] | None:
    """The cached DataFrames of the tables `load_spark_tables` registered on this session
    (None for views registered by hand)."""
    token = spark.conf.get(TOKEN_CONF, None)
    return _STATE.get(token) if token else None
