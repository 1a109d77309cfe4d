"""Batch scoring on Apache Spark: `leadq predict --engine spark`, and a spark-submit entry.

The same output as `leadq.scoring.predict` (columns, routing, reasons, drift report, atomic writes); only
the heavy parts move to Spark:

- features: `leadq.spark.engine` (the same features as the DuckDB engine), per open lead as of the cutoff;
- probabilities: the registered pyfunc as `mlflow.pyfunc.spark_udf(..., env_manager="local")`,
  one struct column of `p_<target>` (the model is loaded once per executor Python worker);
- reasons, routing and the drift report: on the driver, from the collected feature rows, with
  `leadq.models.reasons` and `leadq.scoring.predict`'s helpers. On a cluster the reasons could run in a pandas
  UDF beside the scores; collecting one feature row per open lead is acceptable at CRM sizes.

Run as a file by spark-submit, this module is `leadq predict --engine spark` (README, "Past one
machine: Apache Spark"): `spark-submit --master local[2] .../leadq/spark/predict.py --data ...`.
"""

if __name__ == "__main__":  # run as a file (spark-submit): its folder must not shadow modules
    import os as _os
    import sys as _sys

    _here = _os.path.dirname(_os.path.abspath(__file__))
    _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _here]

import json
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.data.contract import STAGE_ORDER
from leadq.core.errors import BadInputError
from leadq.features.engine import to_utc
from leadq.core.files import atomic_path, write_table
from leadq.data.mapping import DataMapping
from leadq.scoring.predict import (
    DEFAULT_CHUNK_ROWS,
    OPTIONAL_COLUMN_USERS,
    PredictionSummary,
    _funnel,
    check_spec_needs,
    finish_scores,
    model_mapping,
    parse_model_ref,
    resolve_model,
    score_header,
    stale_data_warning,
)
from leadq.models.reasons import feature_contributions, top_reasons


def predict_leads_spark(
    loaded,
    model_ref: str | None,
    as_of=None,
    tracking_uri: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    present_event_columns: set[str] | None = None,
) -> tuple[pd.DataFrame, dict, list[str]]:
    """Score every open lead of `loaded` (a `SparkLoaded`); returns (scored, drift report, warnings)
    as `leadq.scoring.predict.predict_leads` does. `chunk_rows` bounds the driver's reasons batches."""
    import mlflow
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from leadq.spark.engine import _q, _to_pandas_features, features_spark_frame, open_leads_spark
    from leadq.tracking.store import use_tracking_uri

    spark = loaded.spark
    artifacts, tracking_uri, (name, model_uri, version) = resolve_model(model_ref, tracking_uri)
    warnings: list[str] = []
    spec = artifacts.spec
    present = set(OPTIONAL_COLUMN_USERS) if present_event_columns is None else present_event_columns
    check_spec_needs(loaded, set(loaded.spark.table("leads").columns), spec, present)
    if as_of is None:
        latest = spark.sql("SELECT max(unix_micros(ts)) AS us FROM events").collect()[0]["us"]
        as_of = pd.Timestamp(int(latest), unit="us", tz="UTC") if latest is not None else loaded.clock
        warnings += stale_data_warning(as_of, loaded.clock)
    as_of = to_utc(as_of)
    funnel = _funnel(artifacts.targets)
    score_target = funnel[-1]
    columns = spec.feature_columns()
    scored_at = pd.Timestamp.now(tz="UTC").isoformat()

    # Spark: features per open lead, then the pyfunc as a UDF returning one struct of p_<target>.
    result_type = T.StructType([T.StructField(f"p_{t}", T.DoubleType()) for t in artifacts.targets])
    with use_tracking_uri(tracking_uri):  # the driver resolves models:/ and ships the model
        score_udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")
    features = features_spark_frame(spark, spec, as_of)
    rows = (open_leads_spark(spark, as_of).join(features, "lead_id", "left")
            .withColumn("__p", score_udf(F.struct(*[F.col(_q(c)) for c in columns])))
            .select("lead_id", "current_stage", *[F.col(_q(c)) for c in columns],
                    *[F.col(f"__p.p_{t}").alias(f"p_{t}") for t in artifacts.targets])
            .orderBy("lead_id"))
    collected = _to_pandas_features(rows, spec)
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
    return finish_scores(scored, funnel, artifacts, (name, model_uri, version), as_of, scored_at, sample,
                         warnings, engine="spark")


def predict_to_file_spark(
    data_dir: Path,
    out: Path,
    model_ref: str | None = None,
    as_of=None,
    tracking_uri: str | None = None,
    mapping: DataMapping | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    spark_master: str | None = None,
    clock=None,
) -> PredictionSummary:
    """`leadq.scoring.predict.predict_to_file` on Spark: read and validate `data_dir` in Spark, score
    every open lead, write `out` and `out.report.json` (atomically, from the driver).

    Uses the active SparkSession if any, else starts one on `spark_master` (None: spark-submit's
    master, else local[2]) and stops it at the end. Executors get $MLFLOW_TRACKING_URI.
    """
    from leadq.spark.engine import job_session, load_spark_tables
    from leadq.tracking.store import resolve_tracking_uri

    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise BadInputError(f"{out}: output must end in .csv or .parquet")
    if Path(data_dir).is_file():
        raise BadInputError(f"{data_dir}: --engine spark scores a data folder (leads, events, outcomes); "
                            "score a lead-level table with --engine duckdb")
    tracking_uri = resolve_tracking_uri(tracking_uri)
    if mapping is None:
        mapping = model_mapping(model_ref, tracking_uri)
    conf = {"spark.executorEnv.MLFLOW_TRACKING_URI": tracking_uri}
    with job_session(spark_master, conf) as spark:
        loaded = load_spark_tables(spark, Path(data_dir), mapping, clock=clock, require_leads=False)
        raw = set(spark.table("raw_events").columns)
        present = {c for c in OPTIONAL_COLUMN_USERS if mapping.source_column("events", c) in raw}
        scored, report, warnings = predict_leads_spark(loaded, model_ref, as_of, tracking_uri, chunk_rows,
                                                       present_event_columns=present)
    report["data_report"] = loaded.report
    report_path = out.with_name(out.name + ".report.json")
    write_table(scored, out)
    with atomic_path(report_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    p_cols = [c for c in scored.columns if c.startswith("p_")]
    last = p_cols[-1] if p_cols else None
    candidates = scored[scored[last].notna()] if last else scored
    top = candidates.sort_values([last, "lead_id"], ascending=[False, True]).head(10) if last else candidates
    _, name, _ = parse_model_ref(model_ref)
    return PredictionSummary(
        out=out, report_path=report_path, n_leads=len(scored),
        as_of=to_utc(report["as_of"]), model_name=name, model_version=report.get("model_version", ""),
        stage_shares=report.get("stage_share", {}), warnings=[*loaded.report, *warnings], top=top,
    )


def main(argv: list[str] | None = None) -> None:
    """`leadq predict --engine spark ARGS`: the spark-submit entry (argv defaults to sys.argv[1:])."""
    import sys

    from leadq.cli import app

    args = list(sys.argv[1:] if argv is None else argv)
    app(["predict", "--engine", "spark", *args], prog_name="leadq-spark-predict")


if __name__ == "__main__":
    main()
