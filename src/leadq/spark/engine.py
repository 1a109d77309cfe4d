"""The Spark engine: the same point-in-time features as `leadq.features.engine`, on Apache Spark.

Past one machine the steps run on Spark (see DESIGN.md, Scale). Nothing here redefines a feature:
`build_feature_table_spark` and `build_features_spark` run exactly the SQL that
`leadq.features.sql` compiles from the `FeatureSpec`, with the `SPARK` dialect, over temp views
with the contract's names:

- `load_spark_tables` reads the three tables (found as `leadq.data.read_tables.locate_tables`
  finds them), applies the bad-input policy of `leadq.data.load` in Spark (fatal errors, and the dropped-row report with
  the same wording) and registers `leads`, `events`, `outcomes`, timestamps as UTC instants;
- `marks` and `journey` are materialised (cached) once per (loaded tables, spec);
- `examples(ex_id, lead_key, cut_us)` is registered per call, then `type_aggregates`,
  `mark_aggregates` and the final `feature_select_sql`.

The join key `lead_key` is the lead id itself (text) on Spark: the DuckDB engine numbers leads
densely, which on Spark would take a global sort through one partition, and a hash of the id
could collide. The SQL only joins on it, so any unique key gives the same features.

The output is a pandas DataFrame with the DuckDB engine's columns, dtypes and row order, so the
two engines are interchangeable; `feature_frame_spark` gives the Spark DataFrame instead, for
writing features at scale without collecting them.

pyspark is an optional dependency (the `spark` extra): it is imported inside the functions only.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadq.features import sql as features_sql
from leadq.data.contract import OPTIONAL_EVENT_COLUMNS, REQUIRED_COLUMNS, STAGE_ORDER, TABLES
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.data.read_tables import locate_tables
from leadq.data.mapping import DataMapping

MISSING_PYSPARK = "the Spark engine needs the 'spark' extra: pip install 'leadq[spark]'"
MISSING_JAVA = "the Spark engine needs a Java runtime (17 or later): set JAVA_HOME or put 'java' on PATH"
NUMERIC_SHARE_FOR_NUMBER = 0.99  # as in leadq.data.load
TOKEN_CONF = "leadq.tables.token"  # set on the session by load_spark_tables

_NUMERIC_TYPES = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")
_TIMESTAMP_TYPES = ("TimestampType", "TimestampNTZType", "DateType")

# Cached DataFrames per loaded-tables token: {"tables": [...], "prepared": (spec_key, [...])}.
_STATE: dict[str, dict[str, Any]] = {}


def _pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession  # noqa: F401
    except ImportError:
        raise BadInputError(MISSING_PYSPARK) from None
    return pyspark


def _cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master.strip())
    if master.strip() == "local":
        return 1
    if match and match.group(1) != "*":
        return int(match.group(1))
    return os.cpu_count() or 2


def spark_session(
    master: str | None = "local[2]",
    app_name: str = "leadq",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    conf: dict[str, str] | None = None,
):
    """A SparkSession in UTC, with modest shuffle partitions (4 per core) for local mode.

    `master` None means spark-submit's `--master` when launched by spark-submit, else local[2].
    `driver_memory` (e.g. "4g") only takes effect when this call starts the JVM; `conf` adds any
    other Spark settings. An existing session is reused (its runtime settings updated).
    """
    _pyspark()
    from pyspark.sql import SparkSession

    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise BadInputError(MISSING_JAVA)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    if master is None and not _launched_by_spark_submit():
        master = "local[2]"
    if master is not None and master.startswith("local"):
        # Local Python workers run the driver's interpreter (Spark's default is `python3` on PATH).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    partitions = shuffle_partitions or max(2, 4 * _cores(master or ""))
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if driver_memory:
        settings["spark.driver.memory"] = driver_memory
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key in ("spark.sql.session.timeZone", "spark.sql.shuffle.partitions",
                "spark.sql.execution.arrow.pyspark.enabled"):
        spark.conf.set(key, settings[key])
    return spark


def _launched_by_spark_submit() -> bool:
    """True in a driver started by spark-submit (its JVM is already up, with the master set)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


@contextmanager
def job_session(master: str | None = None, conf: dict[str, str] | None = None) -> Iterator[Any]:
    """The active SparkSession if there is one (left running, settings untouched), else a new
    one from `spark_session(master, conf=conf)`, stopped when the block ends."""
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = spark_session(master, conf=conf)
    try:
        yield spark
    finally:
        spark.stop()


# --- loading and validation ----------------------------------------------------------------------


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


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _utc_us(value) -> int:
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
                frame = frame.withColumn(name, F.timestamp_micros(F.floor(F.col(_q(name)) / 1000)))
        return frame
    frames = [
        spark.read.option("header", "true").option("inferSchema", "false").option("escape", '"').csv(p)
        for p in paths
    ]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def _timestamp_expr(column: str, data_type) -> str:
    kind = type(data_type).__name__
    col = _q(column)
    if kind in _TIMESTAMP_TYPES:
        return f"CAST({col} AS TIMESTAMP)"
    if kind == "StringType":
        return f"try_cast(trim({col}) AS TIMESTAMP)"
    return "CAST(NULL AS TIMESTAMP)"  # numbers and the rest are not timestamps (unparseable)


def _text_expr(column: str) -> str:
    return f"nullif(trim(CAST({_q(column)} AS STRING)), '')"


def _require_columns(raw, table: str, source: str, mapping: DataMapping) -> dict:
    types = {f.name: f.dataType for f in raw.schema.fields}
    for contract_col in REQUIRED_COLUMNS[table]:
        source_col = mapping.source_column(table, contract_col)
        if source_col not in types:
            alias = "" if source_col == contract_col else f" (mapped to '{contract_col}')"
            raise BadInputError(
                f"{source}: required column '{source_col}'{alias} is missing in all {raw.count()} rows"
            )
    return types


def _parse_required(spark, table: str, source: str, exprs: dict[str, str], mapping: DataMapping,
                    report: list[str]) -> None:
    """Register `stage_<table>`: parsed, with the required columns present; fatal or report."""
    select = ", ".join(f"{expr} AS {_q(name)}" for name, expr in exprs.items())
    spark.sql(f"SELECT {select} FROM raw_{table}").createOrReplaceTempView(f"parsed_{table}")
    required = REQUIRED_COLUMNS[table]
    aggregates = ["count(*) AS n_rows"] + [f"count_if({_q(c)} IS NULL) AS bad_{i}" for i, c in enumerate(required)]
    row = spark.sql(f"SELECT {', '.join(aggregates)} FROM parsed_{table}").collect()[0]
    for i, contract_col in enumerate(required):
        _report_unparseable(source, mapping.source_column(table, contract_col), int(row[f"bad_{i}"]),
                            int(row["n_rows"]), mapping, report)
    keep = " AND ".join(f"{_q(c)} IS NOT NULL" for c in required)
    spark.sql(f"SELECT * FROM parsed_{table} WHERE {keep}").createOrReplaceTempView(f"stage_{table}")


def _classify_attributes(spark, attributes: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Numeric and categorical attributes, as `leadq.data.load` decides, and each one's select expression."""
    types = {f.name: f.dataType for f in spark.table("stage_leads").schema.fields}
    numeric, categorical, exprs, check = [], [], {}, []
    for name in attributes:
        kind = type(types[name]).__name__
        exprs[name] = _q(name)
        if kind in _NUMERIC_TYPES:
            numeric.append(name)
        elif kind == "StringType":
            check.append(name)
        else:
            categorical.append(name)
    if check:
        aggregates = []
        for i, name in enumerate(check):
            value = f"nullif(trim({_q(name)}), '')"
            aggregates += [f"count({value}) AS f{i}", f"count(try_cast({value} AS DOUBLE)) AS p{i}"]
        row = spark.sql(f"SELECT {', '.join(aggregates)} FROM stage_leads").collect()[0]
        for i, name in enumerate(check):
            filled, parsed = int(row[f"f{i}"]), int(row[f"p{i}"])
            if filled and parsed / filled >= NUMERIC_SHARE_FOR_NUMBER:
                exprs[name] = f"try_cast(nullif(trim({_q(name)}), '') AS DOUBLE)"
                numeric.append(name)
            else:
                categorical.append(name)
    order = {name: i for i, name in enumerate(attributes)}
    return sorted(numeric, key=order.get), sorted(categorical, key=order.get), exprs


def _storage():
    from pyspark import StorageLevel

    return StorageLevel.MEMORY_AND_DISK


def _report_unparseable(source: str, source_col: str, n_bad: int, n_rows: int, mapping: DataMapping,
                        report: list[str]) -> None:
    """Fatal above the configured share of bad rows, else one report line (as `leadq.data.load`)."""
    if not n_bad:
        return
    share = n_bad / n_rows
    if share > mapping.max_bad_fraction:
        raise BadInputError(
            f"{source}: column '{source_col}' has {n_bad} of {n_rows} rows missing or "
            f"unparseable ({share:.1%}, limit {mapping.max_bad_fraction:.1%})"
        )
    report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable '{source_col}'")


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
    and values (event rules, stages, stage columns, timestamp formats, CSV dialects) are refused.
    The bad-input policy is `leadq.data.load`'s, computed in Spark: fatal errors raise `BadInputError`;
    dropped rows are reported in `SparkLoaded.report`, worded as the DuckDB loader words them.
    """
    mapping = mapping or DataMapping()
    unsupported = [key for key in mapping.reshapes() if key != "tables"]
    if unsupported or any(mapping.listed_columns(t) for t in TABLES):
        keys = ", ".join(unsupported or ["columns mapped to lists"])
        raise BadInputError(f"mapping: the Spark engine reads files and maps column names and event-type values; "
                            f"it does not support {keys} yet: use --engine duckdb")
    _pyspark()
    sources = {}
    for table in TABLES:
        files, fmt = locate_tables(Path(data_dir), table, mapping.tables.get(table))
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
    _pyspark()
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
    clock_us = _utc_us(clock)
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
    exprs.update({a: _q(a) for a in attributes})
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
        raise BadInputError(
            f"{sources['leads']}: column '{id_src}' has {n_leads - n_ids} duplicate lead ids "
            f"({int(n_dup_rows)} rows share an id)"
        )
    if n_late:
        report.append(f"{sources['leads']}: dropped {n_late} leads whose '{created_src}' is later than the "
                      f"run's clock ({clock.isoformat()})")
        spark.sql(f"SELECT * FROM stage_leads WHERE unix_micros(created_at) <= {clock_us}") \
            .createOrReplaceTempView("stage_leads")
    if require_leads and n_leads - n_late == 0:
        raise BadInputError(f"{sources['leads']}: column '{id_src}': the leads table is empty (0 rows)")
    numeric, categorical, attr_exprs = _classify_attributes(spark, attributes)
    select = ", ".join(["lead_id AS lead_key", "lead_id", "created_at"]
                       + [f"{attr_exprs[a]} AS {_q(a)}" for a in attributes])
    leads = spark.sql(f"SELECT {select} FROM stage_leads").persist(_storage())
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
            select[optional] = "CAST(NULL AS DOUBLE)" if optional == "duration_s" else "CAST(NULL AS STRING)"
        elif optional == "duration_s":
            duration_is_text = type(events_cols[source_col]).__name__ == "StringType"
            select[optional] = (f"try_cast({_text_expr(source_col)} AS DOUBLE)" if duration_is_text
                                else f"CAST({_q(source_col)} AS DOUBLE)")
        else:
            select[optional] = _text_expr(source_col)
    if duration_is_text:
        select["duration_text"] = _text_expr(duration_src)
    columns = ", ".join(f"{expr} AS {_q(name)}" for name, expr in select.items())
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
        _report_unparseable(src, source_col, int(row[key]), n_rows, mapping, report)
    for key, message in (
        ("unknown", f"dropped {{n}} events for unknown leads (column '{id_src_events}')"),
        ("before", f"dropped {{n}} events before the lead's created_at (column '{ts_src}')"),
        ("future", f"dropped {{n}} events later than the run's clock {clock.isoformat()} (column '{ts_src}')"),
        ("negative", f"dropped {{n}} events with a negative duration (column '{duration_src}')"),
        ("bad_duration", f"{{n}} unparseable values in '{duration_src}' taken as missing"),
    ):
        if int(row[key] or 0):
            report.append(f"{src}: " + message.format(n=int(row[key])))
    event_type = "e.event_type"
    if mapping.event_types:
        whens = " ".join(f"WHEN {_lit(k.strip())} THEN {_lit(v.strip())}" for k, v in mapping.event_types.items())
        event_type = f"CASE e.event_type {whens} ELSE e.event_type END"
    events = spark.sql(
        f"""
        SELECT l.lead_key, e.ts, {event_type} AS event_type, e.duration_s, e.page, e.content_id, e.channel
        FROM parsed_events e JOIN leads l ON l.lead_id = e.lead_id
        WHERE {in_past} AND coalesce(e.duration_s, 0) >= 0
        """
    ).persist(_storage())
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
    messages = [
        f"{src}: dropped {{n}} outcomes for unknown leads (column '{mapping.source_column('outcomes', 'lead_id')}')",
        f"{src}: dropped {{n}} outcomes later than the run's clock {clock.isoformat()} (column '{reached_src}')",
    ]
    for message, n in zip(messages, _drop_counts(spark, "flagged_outcomes", messages)):
        if n:
            report.append(message.format(n=n))
    outcomes = spark.sql("SELECT lead_id, stage, reached_at FROM flagged_outcomes WHERE drop_reason IS NULL")
    outcomes = outcomes.persist(_storage())
    outcomes.createOrReplaceTempView("outcomes")

    _STATE[token] = {"tables": [leads, events, outcomes]}
    spark.conf.set(TOKEN_CONF, token)
    return SparkLoaded(spark=spark, sources=sources, clock=clock, token=token, report=report,
                       numeric_attributes=numeric, categorical_attributes=categorical)


# --- features ------------------------------------------------------------------------------------


def _spec_key(spec: FeatureSpec) -> str:
    return hashlib.sha1(spec.model_dump_json().encode()).hexdigest()


def _prepare(spark, spec: FeatureSpec) -> list:
    """Materialise `marks` and `journey` once per (loaded tables, spec).

    Returns the DataFrames to release after the call: none when they are kept for reuse (tables
    loaded with `load_spark_tables` / `load_spark_frames`); views registered by hand are never
    assumed unchanged, so theirs are rebuilt and released per call.
    """
    dialect = features_sql.SPARK
    token = spark.conf.get(TOKEN_CONF, None)
    state = _STATE.get(token) if token else None
    key = _spec_key(spec)
    if state is not None and state.get("prepared") and state["prepared"][0] == key:
        marks, journey = state["prepared"][1]
        marks.createOrReplaceTempView("marks")
        journey.createOrReplaceTempView("journey")
        return []
    if state is not None and state.get("prepared"):
        for frame in state["prepared"][1]:
            frame.unpersist()
        state["prepared"] = None
    marks = spark.sql(features_sql.marks_sql(spec, dialect)).persist(_storage())
    marks.createOrReplaceTempView("marks")
    marks.count()
    journey = spark.sql(features_sql.journey_sql(spec, dialect)).persist(_storage())
    journey.createOrReplaceTempView("journey")
    journey.count()
    if state is not None:
        state["prepared"] = (key, [marks, journey])
        return []
    return [marks, journey]


def _features_over_examples(spark, spec: FeatureSpec):
    """The feature select over the registered `examples` view: a Spark DataFrame (`ex_id`, features)."""
    dialect = features_sql.SPARK
    spark.sql(features_sql.type_aggregates_sql(spec, dialect)).createOrReplaceTempView("type_aggregates")
    spark.sql(features_sql.mark_aggregates_sql(spec)).createOrReplaceTempView("mark_aggregates")
    return spark.sql(features_sql.feature_select_sql(spec, dialect))


def _to_pandas_features(frame, spec: FeatureSpec) -> pd.DataFrame:
    """Collect feature rows with the DuckDB engine's dtypes: float64 numbers, object text (None)."""
    out = frame.toPandas()
    for name in spec.numeric_columns():
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(np.float64)
    for name in spec.categorical_columns():
        values = out[name].astype(object)
        out[name] = values.where(values.notna(), None).astype(object)
    return out


def feature_frame_spark(spark, spec: FeatureSpec, examples):
    """Feature vectors as a Spark DataFrame, not collected: for writing features at scale.

    `examples` is a Spark DataFrame with `lead_id` and `cutoff` (a timestamp, or text Spark
    parses as one; naive is UTC). Returns its columns plus `spec.feature_columns()`; rows whose
    lead is unknown get missing features, as in the DuckDB engine. Row order is not defined.
    Materialises `marks` and `journey` on first use.
    """
    from pyspark.sql import functions as F

    _pyspark()
    _prepare(spark, spec)
    keyed = examples.withColumn("__leadq_ex_id", F.monotonically_increasing_id())
    keyed.select(
        F.col("__leadq_ex_id").alias("ex_id"),
        F.col("lead_id").cast("string").alias("lead_key"),
        F.unix_micros(F.col("cutoff").cast("timestamp")).alias("cut_us"),
    ).createOrReplaceTempView("examples")
    vectors = _features_over_examples(spark, spec)
    columns = [F.col(f"v.{_q(c)}").alias(c) for c in spec.feature_columns()]
    return (keyed.alias("k")
            .join(vectors.alias("v"), F.col("k.__leadq_ex_id") == F.col("v.ex_id"), "left")
            .select(*[F.col(f"k.{_q(c)}") for c in examples.columns], *columns))


def build_feature_table_spark(spark, spec: FeatureSpec, examples) -> pd.DataFrame:
    """Feature vectors for each row of `examples` (columns `lead_id`, `cutoff`), on Spark.

    The Spark counterpart of `leadq.features.engine.build_feature_table`, with the same result: the
    examples (index reset, in their order) with one column per `spec.feature_columns()`. Only
    events strictly before each row's cutoff are used. `examples` may be a pandas or a Spark
    DataFrame; the result is pandas either way.
    """
    _pyspark()
    if not isinstance(examples, pd.DataFrame):
        return _build_from_spark_examples(spark, spec, examples)
    from pyspark.sql import types as T

    keys = examples[["lead_id", "cutoff"]].reset_index(drop=True)
    cut = pd.to_datetime(keys["cutoff"], utc=True)
    frame = pd.DataFrame({
        "ex_id": np.arange(len(keys), dtype=np.int64),
        "lead_key": keys["lead_id"].astype(str).to_numpy(dtype=object),
        "cut_us": cut.astype("datetime64[us, UTC]").array.asi8.astype(np.int64) if len(keys) else
        np.array([], dtype=np.int64),
    })
    schema = T.StructType([T.StructField("ex_id", T.LongType()), T.StructField("lead_key", T.StringType()),
                           T.StructField("cut_us", T.LongType())])
    release = _prepare(spark, spec)
    try:
        keyed = spark.createDataFrame(frame, schema) if len(frame) else spark.createDataFrame([], schema)
        keyed.createOrReplaceTempView("examples")
        vectors = _to_pandas_features(_features_over_examples(spark, spec).orderBy("ex_id"), spec)
    finally:
        for df in release:
            df.unpersist()
    vectors = vectors.set_index("ex_id").reindex(frame["ex_id"])
    columns = spec.feature_columns()
    for name in spec.categorical_columns():  # rows of unknown leads come back from reindex as NaN
        vectors[name] = vectors[name].astype(object).where(vectors[name].notna(), None)
    out = examples.reset_index(drop=True).copy()
    return pd.concat([out, vectors[columns].reset_index(drop=True)], axis=1)


def _build_from_spark_examples(spark, spec: FeatureSpec, examples) -> pd.DataFrame:
    from pyspark.sql import functions as F

    ordered = examples.withColumn("__leadq_order", F.monotonically_increasing_id()).cache()
    try:
        table = feature_frame_spark(spark, spec, ordered).orderBy("__leadq_order").drop("__leadq_order")
        out = _to_pandas_features(table, spec)
    finally:
        ordered.unpersist()
    return out


def open_leads_spark(spark, as_of) -> Any:
    """Leads created before `as_of` not yet customers by then (Spark DataFrame: `lead_id`,
    `current_stage`), as `leadq.features.engine.open_leads` selects them."""
    as_us = _utc_us(as_of)
    stage_rank = " ".join(f"WHEN {_lit(s)} THEN {i + 1}" for i, s in enumerate(STAGE_ORDER))
    names = " ".join(f"WHEN {i + 1} THEN {_lit(s)}" for i, s in enumerate(STAGE_ORDER))
    return spark.sql(
        f"""
        WITH reached AS (
          SELECT lead_id, max(CASE stage {stage_rank} ELSE 0 END) AS rank
          FROM outcomes WHERE unix_micros(reached_at) <= {as_us} GROUP BY lead_id)
        SELECT l.lead_id, CASE coalesce(r.rank, 0) {names} ELSE 'lead' END AS current_stage
        FROM leads l LEFT JOIN reached r ON r.lead_id = l.lead_id
        WHERE unix_micros(l.created_at) < {as_us} AND coalesce(r.rank, 0) < {len(STAGE_ORDER)}
        """
    )


def features_spark_frame(spark, spec: FeatureSpec, as_of):
    """One feature row per open lead as of `as_of`, as a Spark DataFrame (`lead_id` + features),
    not collected and not ordered: for writing scoring features at scale."""
    _pyspark()
    _prepare(spark, spec)
    open_leads_spark(spark, as_of).createOrReplaceTempView("open_leads")
    # The lead id is the example key: one example per open lead.
    spark.sql(f"SELECT lead_id AS ex_id, lead_id AS lead_key, CAST({_utc_us(as_of)} AS BIGINT) AS cut_us "
              "FROM open_leads") \
        .createOrReplaceTempView("examples")
    vectors = _features_over_examples(spark, spec)
    return vectors.withColumnRenamed("ex_id", "lead_id").select("lead_id", *[_q(c) for c in spec.feature_columns()])


def build_features_spark(spark, spec: FeatureSpec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`,
    ordered by `lead_id`, as `leadq.features.engine.build_features` returns them."""
    _pyspark()
    release = _prepare(spark, spec)
    try:
        out = _to_pandas_features(features_spark_frame(spark, spec, as_of).orderBy("lead_id"), spec)
    finally:
        for df in release:
            df.unpersist()
    out["lead_id"] = out["lead_id"].astype(str)  # pandas' default text dtype, as DuckDB's result has
    return out.reset_index(drop=True)
