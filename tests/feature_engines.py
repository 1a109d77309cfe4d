"""The feature engines behind one interface, so one test body checks them all.

- `in_process`: `leadq.features.engine` (numpy over DuckDB-validated events);
- `sql`: the SQL that `leadq.features.sql` compiles for Spark, run unchanged by DuckDB (only the
  dialect's epoch and quoting differ), so the compiled SQL is checked on every run, Java or not;
- `spark`: `leadq.spark.features` on the session-scoped local SparkSession.

Each engine validates raw tables itself (`load`) and offers both paths: `features_at` (every
open lead at one cutoff, the scoring path) and `feature_table` (given (lead, cutoff) rows at
many cutoffs, the training path).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from leadq.features import sql as features_sql
from leadq.features.examples import infer_attribute_spec
from leadq.features.spec import FeatureSpec
from leadq.features.engine import build_feature_table, build_features, open_leads
from leadq.data.load import connect, load_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import pandas_features  # noqa: E402  (the independent pandas implementation)

DUCKDB = features_sql.Dialect(epoch_us="epoch_us({})", quote='"')


def reference_features(tables, cutoff, clock, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """The pandas baseline (benchmarks/pandas_features.py), which shares no code with leadq:
    its own validation, attribute inference and features of every open lead at `cutoff`."""
    leads, events, outcomes = pandas_features.validate_tables(*tables, clock=clock)
    spec = pandas_features.infer_attribute_spec(leads, spec or FeatureSpec())
    return pandas_features.pandas_features(leads, events, outcomes, spec, cutoff)


def assert_same_features(expected: pd.DataFrame, actual: pd.DataFrame, context: str = "") -> None:
    """Same columns and rows; numbers equal to rtol 1e-9 (NaN where NaN), text exactly."""
    assert list(actual.columns) == list(expected.columns), context
    assert len(actual) == len(expected), context
    numeric = [name for name, dtype in expected.dtypes.items()
               if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)]
    # all numeric columns in one comparison (`assert_allclose`'s own test, `isclose`); column by
    # column, for the message, only when it fails
    want = expected[numeric].to_numpy(dtype=float)
    got = actual[numeric].to_numpy(dtype=float)
    numbers_agree = np.isclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True).all()
    for name in expected.columns:
        if name in numeric and numbers_agree:
            continue
        want, got = expected[name], actual[name]
        if name in numeric:
            np.testing.assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float), rtol=1e-9,
                                       atol=1e-12, equal_nan=True, err_msg=f"{context} {name}")
        else:
            w = want.astype(object).where(want.notna(), None).tolist()
            g = got.astype(object).where(got.notna(), None).tolist()
            assert g == w, f"{context} {name}: {g} != {w}"


class FeatureEngine:
    """Validates raw `leads`, `events`, `outcomes` frames (`load`) and builds features from them."""

    name = ""

    def load(self, tables, clock):
        """The engine's validated tables."""
        raise NotImplementedError

    def features_at(self, data, cutoff, spec: FeatureSpec | None = None) -> pd.DataFrame:
        """`lead_id` then the spec's features for every open lead at `cutoff`, by lead id."""
        raise NotImplementedError

    def feature_table(self, data, examples: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
        """`examples` (`lead_id`, `cutoff`) with the spec's features as of each row's cutoff."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class InProcessEngine(FeatureEngine):
    name = "in_process"

    def __init__(self):
        self.con = connect(threads=1)  # one per session (tables replaced per load); tiny data: one thread

    def load(self, tables, clock):
        return load_frames(*tables, clock=clock, con=self.con)

    def features_at(self, data, cutoff, spec=None):
        return build_features(data, infer_attribute_spec(data, spec or FeatureSpec()), cutoff)

    def feature_table(self, data, examples, spec=None):
        return build_feature_table(data, infer_attribute_spec(data, spec or FeatureSpec()), examples)


def sql_feature_table(data, spec: FeatureSpec, examples: pd.DataFrame) -> pd.DataFrame:
    """`features_sql`'s statements over DuckDB-validated data, in DuckDB (the Spark engine's
    sequence: marks and journey once, then the per-example aggregates and the final select)."""
    con = data.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE marks AS {features_sql.marks_sql(spec, DUCKDB)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE journey AS {features_sql.journey_sql(spec, DUCKDB)}")
    keys = con.execute("SELECT lead_id, lead_key FROM leads").df().set_index("lead_id")["lead_key"]
    lead_ids = examples["lead_id"].astype(str)
    cut = pd.to_datetime(examples["cutoff"], utc=True).dt.as_unit("us")
    con.register("examples_frame", pd.DataFrame({
        "ex_id": np.arange(len(examples), dtype=np.int64),
        "lead_key": lead_ids.map(keys).fillna(-1).to_numpy(dtype=np.int64),
        "cut_us": cut.to_numpy(dtype="datetime64[us]").astype(np.int64),
    }))
    con.execute("CREATE OR REPLACE TEMP VIEW examples AS SELECT * FROM examples_frame")
    con.execute(f"CREATE OR REPLACE TEMP VIEW type_aggregates AS {features_sql.type_aggregates_sql(spec, DUCKDB)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW mark_aggregates AS {features_sql.mark_aggregates_sql(spec)}")
    vectors = con.execute(features_sql.feature_select_sql(spec, DUCKDB)).df().set_index("ex_id")
    vectors = vectors.reindex(np.arange(len(examples)))
    categorical = set(spec.categorical_columns())
    columns = {}
    for name in spec.feature_columns():
        if name in categorical:
            values = vectors[name].astype(object)
            columns[name] = values.where(values.notna(), None).to_numpy()
        else:
            columns[name] = vectors[name].to_numpy(dtype=np.float64)
    out = examples.reset_index(drop=True).drop(columns=list(columns), errors="ignore")
    return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)


class SqlOnDuckDBEngine(InProcessEngine):
    name = "sql"

    def features_at(self, data, cutoff, spec=None):
        keys = open_leads(data, cutoff)[["lead_id", "cutoff"]]
        table = sql_feature_table(data, infer_attribute_spec(data, spec or FeatureSpec()), keys)
        return table.drop(columns="cutoff")

    def feature_table(self, data, examples, spec=None):
        return sql_feature_table(data, infer_attribute_spec(data, spec or FeatureSpec()), examples)


class SparkEngine(FeatureEngine):
    name = "spark"

    def __init__(self, spark):
        self.spark = spark

    def load(self, tables, clock):
        from leadq.spark.load import load_spark_frames

        return load_spark_frames(self.spark, *tables, clock=clock)

    def features_at(self, data, cutoff, spec=None):
        from leadq.spark.features import build_features_spark

        return build_features_spark(self.spark, infer_attribute_spec(data, spec or FeatureSpec()), cutoff)

    def feature_table(self, data, examples, spec=None):
        from leadq.spark.features import build_feature_table_spark

        return build_feature_table_spark(self.spark, infer_attribute_spec(data, spec or FeatureSpec()), examples)
