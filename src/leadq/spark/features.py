"""The Spark engine's features: the same point-in-time features as `leadq.features.engine`.

Nothing here redefines a feature: `build_feature_table_spark` and `build_features_spark` run
exactly the SQL that `leadq.features.sql` compiles from the `FeatureSpec`, with the `SPARK`
dialect, over the views `leadq.spark.load` registers:

- `marks` and `journey` are materialised (cached) once per (loaded tables, spec);
- `examples(ex_id, lead_key, cut_us)` is registered per call, then `type_aggregates`,
  `mark_aggregates` and the final `feature_select_sql`.

The output is a pandas DataFrame with the DuckDB engine's columns, dtypes and row order, so the
two engines are interchangeable; `example_features_frame_spark` gives the Spark DataFrame instead, for
writing features at scale without collecting them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from leadq.data.contract import STAGE_ORDER
from leadq.features import sql as features_sql
from leadq.features.spec import FeatureSpec
from leadq.spark.load import (
    loaded_state,
    quote_column,
    sql_literal,
    storage_level,
    utc_micros,
)
from leadq.spark.session import require_pyspark


def _spec_key(spec: FeatureSpec) -> str:
    return hashlib.sha1(spec.model_dump_json().encode()).hexdigest()


def _prepare(spark, spec: FeatureSpec) -> list:
    """Materialise `marks` and `journey` once per (loaded tables, spec).

    Returns the DataFrames to release after the call: none when they are kept for reuse (tables
    loaded with `load_spark_tables` / `load_spark_frames`); views registered by hand are never
    assumed unchanged, so theirs are rebuilt and released per call.
    """
    dialect = features_sql.SPARK
    state = loaded_state(spark)
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
    marks = spark.sql(features_sql.marks_sql(spec, dialect)).persist(storage_level())
    marks.createOrReplaceTempView("marks")
    marks.count()
    journey = spark.sql(features_sql.journey_sql(spec, dialect)).persist(storage_level())
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


def to_pandas_features(frame, spec: FeatureSpec) -> pd.DataFrame:
    """Collect feature rows with the DuckDB engine's dtypes: float64 numbers, object text (None)."""
    out = frame.toPandas()
    for name in spec.numeric_columns():
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(np.float64)
    for name in spec.categorical_columns():
        values = out[name].astype(object)
        out[name] = values.where(values.notna(), None).astype(object)
    return out


def example_features_frame_spark(spark, spec: FeatureSpec, examples):
    """Feature vectors as a Spark DataFrame, not collected: for writing features at scale.

    `examples` is a Spark DataFrame with `lead_id` and `cutoff` (a timestamp, or text Spark
    parses as one; naive is UTC). Returns its columns plus `spec.feature_columns()`; rows whose
    lead is unknown get missing features, as in the DuckDB engine. Row order is not defined.
    Materialises `marks` and `journey` on first use.
    """
    from pyspark.sql import functions as F

    require_pyspark()
    _prepare(spark, spec)
    keyed = examples.withColumn("__leadq_ex_id", F.monotonically_increasing_id())
    keyed.select(
        F.col("__leadq_ex_id").alias("ex_id"),
        F.col("lead_id").cast("string").alias("lead_key"),
        F.unix_micros(F.col("cutoff").cast("timestamp")).alias("cut_us"),
    ).createOrReplaceTempView("examples")
    vectors = _features_over_examples(spark, spec)
    columns = [F.col(f"v.{quote_column(c)}").alias(c) for c in spec.feature_columns()]
    return (keyed.alias("k")
            .join(vectors.alias("v"), F.col("k.__leadq_ex_id") == F.col("v.ex_id"), "left")
            .select(*[F.col(f"k.{quote_column(c)}") for c in examples.columns], *columns))


def build_feature_table_spark(spark, spec: FeatureSpec, examples) -> pd.DataFrame:
    """Feature vectors for each row of `examples` (columns `lead_id`, `cutoff`), on Spark.

    The Spark counterpart of `leadq.features.engine.build_feature_table`, with the same result: the
    examples (index reset, in their order) with one column per `spec.feature_columns()`. Only
    events strictly before each row's cutoff are used. `examples` may be a pandas or a Spark
    DataFrame; the result is pandas either way.
    """
    require_pyspark()
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
        vectors = to_pandas_features(_features_over_examples(spark, spec).orderBy("ex_id"), spec)
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
        table = example_features_frame_spark(spark, spec, ordered).orderBy("__leadq_order").drop("__leadq_order")
        out = to_pandas_features(table, spec)
    finally:
        ordered.unpersist()
    return out


def open_leads_spark(spark, as_of) -> Any:
    """Leads created before `as_of` not yet customers by then (Spark DataFrame: `lead_id`,
    `current_stage`), as `leadq.features.engine.open_leads` selects them."""
    as_us = utc_micros(as_of)
    stage_rank = " ".join(f"WHEN {sql_literal(s)} THEN {i + 1}" for i, s in enumerate(STAGE_ORDER))
    names = " ".join(f"WHEN {i + 1} THEN {sql_literal(s)}" for i, s in enumerate(STAGE_ORDER))
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


def open_lead_features_frame_spark(spark, spec: FeatureSpec, as_of):
    """One feature row per open lead as of `as_of`, as a Spark DataFrame (`lead_id` + features),
    not collected and not ordered: for writing scoring features at scale."""
    require_pyspark()
    _prepare(spark, spec)
    open_leads_spark(spark, as_of).createOrReplaceTempView("open_leads")
    # The lead id is the example key: one example per open lead.
    spark.sql(f"SELECT lead_id AS ex_id, lead_id AS lead_key, CAST({utc_micros(as_of)} AS BIGINT) AS cut_us "
              "FROM open_leads") \
        .createOrReplaceTempView("examples")
    vectors = _features_over_examples(spark, spec)
    return vectors.withColumnRenamed("ex_id", "lead_id").select("lead_id", *[quote_column(c) for c in spec.feature_columns()])


def build_features_spark(spark, spec: FeatureSpec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`,
    ordered by `lead_id`, as `leadq.features.engine.build_features` returns them."""
    require_pyspark()
    release = _prepare(spark, spec)
    try:
        out = to_pandas_features(open_lead_features_frame_spark(spark, spec, as_of).orderBy("lead_id"), spec)
    finally:
        for df in release:
            df.unpersist()
    out["lead_id"] = out["lead_id"].astype(str)  # pandas' default text dtype, as DuckDB's result has
    return out.reset_index(drop=True)
