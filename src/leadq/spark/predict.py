"""Batch scoring on Apache Spark: `leadq predict --engine spark`.

The same output as `leadq.scoring.predict` (columns, routing, reasons, drift report); only
the heavy parts move to Spark:

- features: `leadq.spark.features` (the same features as the DuckDB engine), per open lead as of the cutoff;
- probabilities: the registered pyfunc as `mlflow.pyfunc.spark_udf(..., env_manager="local")`,
  one struct column of `p_<target>` (the model is loaded once per executor Python worker);
- reasons, routing and the drift report: on the driver, from the collected feature rows, with
  `leadq.models.reasons` and `leadq.scoring.predict`'s helpers. On a cluster the reasons could run in a pandas
  UDF beside the scores; collecting one feature row per open lead is acceptable at CRM sizes.

The spark-submit entry is `leadq/spark/submit.py` (README, "Past one machine: Apache Spark").
"""

from pathlib import Path

import numpy as np
import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.contract import STAGE_ORDER
from leadq.data.mapping import DataMapping
from leadq.features.engine import to_utc
from leadq.models.reasons import feature_contributions, top_reasons
from leadq.scoring.predict import (
    DEFAULT_CHUNK_ROWS,
    OPTIONAL_COLUMN_USERS,
    check_spec_needs,
    finish_scores,
    score_header,
    stale_data_warning,
)
from leadq.scoring.routing import funnel_order
from leadq.spark.features import open_lead_features_frame_spark, open_leads_spark, to_pandas_features
from leadq.spark.session import job_session
from leadq.spark.load import load_spark_tables, quote_column
from leadq.tracking.model_ref import ModelRef, load_artifacts, spark_udf


def predict_leads_spark(
    loaded,
    model: ModelRef,
    as_of=None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    present_event_columns: set[str] | None = None,
) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every open lead of `loaded` (a `SparkLoaded`); returns (scored, drift report, warnings)
    as `leadq.scoring.predict.predict_leads` does. `chunk_rows` bounds the driver's reasons batches."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = loaded.spark
    artifacts = load_artifacts(model)
    warnings: list[str] = []
    spec = artifacts.spec
    present = set(OPTIONAL_COLUMN_USERS) if present_event_columns is None else present_event_columns
    check_spec_needs(loaded, set(loaded.spark.table("leads").columns), spec, present)
    if as_of is None:
        latest = spark.sql("SELECT max(unix_micros(ts)) AS us FROM events").collect()[0]["us"]
        as_of = pd.Timestamp(int(latest), unit="us", tz="UTC") if latest is not None else loaded.clock
        warnings += stale_data_warning(as_of, loaded.clock)
    as_of = to_utc(as_of)
    funnel = funnel_order(artifacts.targets)
    score_target = funnel[-1]
    columns = spec.feature_columns()
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()

    # Spark: features per open lead, then the pyfunc as a UDF returning one struct of p_<target>.
    result_type = T.StructType([T.StructField(f"p_{t}", T.DoubleType()) for t in artifacts.targets])
    score_udf = spark_udf(spark, model, result_type)
    features = open_lead_features_frame_spark(spark, spec, as_of)
    rows = (open_leads_spark(spark, as_of).join(features, "lead_id", "left")
            .withColumn("__p", score_udf(F.struct(*[F.col(quote_column(c)) for c in columns])))
            .select("lead_id", "current_stage", *[F.col(quote_column(c)) for c in columns],
                    *[F.col(f"__p.p_{t}").alias(f"p_{t}") for t in artifacts.targets])
            .orderBy("lead_id"))
    collected = to_pandas_features(rows, spec)
    collected["lead_id"] = collected["lead_id"].astype(str)

    # Driver: mask reached stages, reasons (as leadq.scoring.predict does per chunk), routing, drift.
    if collected.empty:
        return (pd.DataFrame(columns=score_header(funnel)), {"leads_scored": 0, "as_of": as_of.isoformat()},
                warnings)
    rank = {s: i for i, s in enumerate(["lead", *STAGE_ORDER])}
    current = collected["current_stage"].map(rank).fillna(0).to_numpy()
    scored = collected[["lead_id", "current_stage"]].copy()
    for target in funnel:
        p = collected[f"p_{target}"].to_numpy(dtype=float)
        scored[f"p_{target}"] = np.where(current >= rank.get(target, len(rank)), np.nan, p)
    pipeline = artifacts.load_pipelines()[score_target]
    reasons = []
    for start in range(0, len(collected), chunk_rows):
        part = collected.iloc[start:start + chunk_rows]
        contributions = feature_contributions(pipeline, part, columns)
        reasons.append(top_reasons(contributions, part[columns]).to_numpy())
    scored["reasons"] = np.concatenate(reasons)
    sample = collected[[c for c in artifacts.reference.get("features", {}) if c in collected]]
    return finish_scores(scored, funnel, artifacts, model, as_of, scored_at, sample,
                         warnings, engine="spark")


def score_folder_spark(
    data_dir: Path,
    model: ModelRef,
    as_of=None,
    mapping: DataMapping | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    spark_master: str | None = None,
    clock=None,
) -> tuple[pd.DataFrame, dict, list[str], list[str]]:
    """Read and validate `data_dir` in Spark and score every open lead: (scored, drift report,
    warnings, data report), as the in-process engine returns them.

    Uses the active SparkSession if any, else starts one on `spark_master` (None: spark-submit's
    master, else local[2]) and stops it at the end. Executors get $MLFLOW_TRACKING_URI.
    """
    if Path(data_dir).is_file():
        raise BadInputError(f"{data_dir}: --engine spark scores a data folder (leads, events, outcomes); "
                            "score a lead-level table with --engine duckdb")
    mapping = mapping or DataMapping()
    conf = {"spark.executorEnv.MLFLOW_TRACKING_URI": model.tracking_uri}
    with job_session(spark_master, conf) as spark:
        loaded = load_spark_tables(spark, Path(data_dir), mapping, clock=clock, require_leads=False)
        raw = set(spark.table("raw_events").columns)
        present = {c for c in OPTIONAL_COLUMN_USERS if mapping.source_column("events", c) in raw}
        scored, report, warnings = predict_leads_spark(loaded, model, as_of, chunk_rows,
                                                       present_event_columns=present)
    return scored, report, warnings, list(loaded.report)
