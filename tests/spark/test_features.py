"""The Spark engine gives the DuckDB engine's features on generated data, and fails clearly
without pyspark. The session-scoped `spark` fixture (tests/conftest.py) serves every Spark test."""

import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'leadq[spark]')")
if not shutil.which("java"):
    pytest.skip("no Java runtime on PATH (the Spark engine needs Java 17+)", allow_module_level=True)

from leadq.core.errors import BadInputError  # noqa: E402
from leadq.features.examples import infer_attribute_spec  # noqa: E402
from leadq.features.spec import FeatureSpec  # noqa: E402
from leadq.features.engine import build_feature_table, build_features  # noqa: E402
from leadq.data.load import load_data  # noqa: E402
from leadq.spark.features import build_feature_table_spark, build_features_spark  # noqa: E402
from leadq.spark.load import load_spark_tables  # noqa: E402
from leadq.spark.session import spark_session  # noqa: E402


def assert_same_features(duck: pd.DataFrame, spark_frame: pd.DataFrame, spec: FeatureSpec) -> None:
    """Same columns, dtypes and rows; numbers equal to rtol 1e-9 (NaN equal), text exactly."""
    assert list(spark_frame.columns) == list(duck.columns)
    assert len(spark_frame) == len(duck)
    for name in duck.columns:
        a, b = duck[name], spark_frame[name]
        if name in spec.numeric_columns():
            assert b.dtype == np.float64, name
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-9, atol=0, equal_nan=True,
                                       err_msg=name)
        else:
            assert b.dtype == a.dtype, name
            assert list(b.astype(object).where(b.notna(), None)) == list(a.astype(object).where(a.notna(), None)), name


# --- parity with the DuckDB engine on generated data ---------------------------------------------


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory):
    from leadq.data.synth import generate

    tables = generate(n_leads=300, seed=7)
    out = tmp_path_factory.mktemp("synth")
    for name in ("leads", "events", "outcomes"):
        tables[name].to_parquet(out / f"{name}.parquet", index=False)
    # a few rows the load policy drops, so both validations have something to report
    events = tables["events"]
    bad = events.head(3).assign(lead_id="nobody")
    pd.concat([events, bad], ignore_index=True).to_parquet(out / "events.parquet", index=False)
    return out


@pytest.mark.slow
def test_same_features_as_duckdb_at_three_cutoffs(spark, generated_dir):
    duck = load_data(generated_dir, clock=CLOCK_FOR_SYNTH)
    sp = load_spark_tables(spark, generated_dir, clock=CLOCK_FOR_SYNTH)
    assert sp.report == duck.report and sp.report  # same drops, worded alike
    assert (sp.numeric_attributes, sp.categorical_attributes) == (duck.numeric_attributes, duck.categorical_attributes)
    spec = infer_attribute_spec(duck, FeatureSpec())
    end = duck.history_end().floor("D")
    cutoffs = [end - pd.Timedelta(days=d) for d in (200, 90, 1)]
    leads = duck.frame("leads")["lead_id"]
    examples = pd.DataFrame({
        "lead_id": np.tile(leads.to_numpy(), 3),
        "cutoff": np.repeat(pd.DatetimeIndex(cutoffs), len(leads)),
    })
    unknown = pd.DataFrame({"lead_id": ["no-such-lead"], "cutoff": [cutoffs[0]]})  # a row of missing features
    examples = pd.concat([examples, unknown], ignore_index=True)
    examples = examples.sample(frac=1.0, random_state=1)  # any order: the result follows the examples
    want = build_feature_table(duck, spec, examples)
    got = build_feature_table_spark(spark, spec, examples)
    assert_same_features(want, got, spec)
    assert (want.groupby("cutoff")["events_all"].sum() > 0).all()  # the cutoffs see some history
    # the scoring case: open leads at one cutoff, ordered by lead id
    want = build_features(duck, spec, cutoffs[1])
    got = build_features_spark(spark, spec, cutoffs[1])
    assert_same_features(want, got, spec)


CLOCK_FOR_SYNTH = pd.Timestamp("2100-01-01", tz="UTC")


def test_pyspark_missing_is_one_clear_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(BadInputError, match=r"needs the 'spark' extra: pip install 'leadq\[spark\]'"):
        spark_session()


# Point in time on Spark (and the other engines), boundaries included: tests/features/test_point_in_time.py.
