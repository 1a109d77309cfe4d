"""Build point-in-time feature vectors with the in-process engine (DuckDB).

`build_feature_table` describes any set of (lead, cutoff) pairs; `build_features` is the
scoring case: every open lead at one cutoff. Both run the SQL compiled from the feature spec
in `features_sql`, so training, scoring and the Spark engine share one definition.
"""

import hashlib

import numpy as np
import pandas as pd

from leadq import features_sql
from leadq.contract import STAGE_ORDER
from leadq.feature_spec import FeatureSpec
from leadq.load import LoadedData


def to_utc(value) -> pd.Timestamp:
    """A timestamp in UTC; naive input is taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _prepare_events(data: LoadedData, spec: FeatureSpec) -> None:
    """Materialise the cutoff-independent per-event columns once per (data, spec)."""
    key = hashlib.sha1(spec.model_dump_json().encode()).hexdigest()
    if getattr(data, "_prepared_for", None) == key:
        return
    con = data.con
    dialect = features_sql.DUCKDB
    con.execute(f"CREATE OR REPLACE TEMP TABLE marks AS {features_sql.marks_sql(spec, dialect)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE journey AS {features_sql.journey_sql(spec, dialect)}")
    data._prepared_for = key


def build_feature_table(data: LoadedData, spec: FeatureSpec, examples: pd.DataFrame) -> pd.DataFrame:
    """Feature vectors for each row of `examples` (columns `lead_id`, `cutoff`).

    Returns `examples` (index reset) with one column per `spec.feature_columns()`, in order.
    Only events strictly before each row's cutoff are used.
    """
    con = data.con
    keys = examples[["lead_id", "cutoff"]].reset_index(drop=True).copy()
    keys["ex_id"] = range(len(keys))
    keys["lead_id"] = keys["lead_id"].astype(str)
    keys["cutoff"] = pd.to_datetime(keys["cutoff"], utc=True)
    _prepare_events(data, spec)
    dialect = features_sql.DUCKDB
    con.register("examples_input", keys)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE examples AS "
        "SELECT k.ex_id, l.lead_key, epoch_us(k.cutoff) AS cut_us "
        "FROM examples_input k JOIN leads l ON l.lead_id = k.lead_id"
    )
    con.unregister("examples_input")
    con.execute(f"CREATE OR REPLACE TEMP TABLE type_aggregates AS {features_sql.type_aggregates_sql(spec, dialect)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE mark_aggregates AS {features_sql.mark_aggregates_sql(spec)}")
    vectors = con.execute(features_sql.feature_select_sql(spec, dialect) + " ORDER BY x.ex_id").df()
    for table in ("examples", "type_aggregates", "mark_aggregates"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    vectors = vectors.set_index("ex_id").reindex(keys["ex_id"])
    out = examples.reset_index(drop=True).copy()
    columns = spec.feature_columns()
    for name in spec.categorical_columns():
        vectors[name] = vectors[name].astype(object).where(vectors[name].notna(), None)
    return pd.concat([out, vectors[columns].reset_index(drop=True)], axis=1)


def open_leads(data: LoadedData, as_of: pd.Timestamp) -> pd.DataFrame:
    """Leads created before `as_of` that had not become customers by then, with their stage.

    Columns: `lead_id`, `cutoff`, `current_stage` (the furthest stage of the funnel reached by
    `as_of`, or `lead`).
    """
    as_of = to_utc(as_of)
    stage_rank = " ".join(f"WHEN '{s}' THEN {i + 1}" for i, s in enumerate(STAGE_ORDER))
    frame = data.con.execute(
        f"""
        WITH reached AS (
          SELECT lead_id, max(CASE stage {stage_rank} ELSE 0 END) AS rank
          FROM outcomes WHERE reached_at <= ? GROUP BY lead_id)
        SELECT l.lead_id, coalesce(r.rank, 0) AS rank
        FROM leads l LEFT JOIN reached r ON r.lead_id = l.lead_id
        WHERE l.created_at < ? AND coalesce(r.rank, 0) < {len(STAGE_ORDER)}
        ORDER BY l.lead_id
        """,
        [as_of, as_of],
    ).df()
    names = np.array(["lead", *STAGE_ORDER], dtype=object)
    frame["current_stage"] = names[frame.pop("rank").to_numpy(dtype=int)]
    frame.insert(1, "cutoff", as_of)
    return frame


def build_features(data: LoadedData, spec: FeatureSpec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`."""
    leads = open_leads(data, as_of)
    table = build_feature_table(data, spec, leads[["lead_id", "cutoff"]])
    return table.drop(columns=["cutoff"])
