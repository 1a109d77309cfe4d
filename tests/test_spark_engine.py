"""The Spark engine gives the DuckDB engine's features, and keeps the point-in-time property.

One local SparkSession serves the whole module (starting a JVM takes seconds). Tiny data on
Spark is dominated by per-job latency, so the session is tuned for it (one shuffle partition,
no adaptive execution) and each property example runs its two worlds in one Spark pass.
"""

import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'leadq[spark]')")
if not shutil.which("java"):
    pytest.skip("no Java runtime on PATH (the Spark engine needs Java 17+)", allow_module_level=True)

from leadq.data.contract import CANONICAL_EVENT_TYPES  # noqa: E402
from leadq.core.errors import BadInputError  # noqa: E402
from leadq.features.examples import infer_attribute_spec  # noqa: E402
from leadq.features.spec import FeatureSpec  # noqa: E402
from leadq.features.engine import build_feature_table, build_features  # noqa: E402
from leadq.data.load import load_data  # noqa: E402
from leadq.spark.features import build_feature_table_spark, build_features_spark  # noqa: E402
from leadq.spark.load import load_spark_frames, load_spark_tables  # noqa: E402
from leadq.spark.session import spark_session  # noqa: E402
from test_features import (  # noqa: E402  (the DuckDB tests' strategies and fixtures)
    CLOCK,
    CUT_S,
    LEADS,
    NO_OUTCOMES,
    PIT_CUTOFF,
    START,
    _event_strategy,
    _frame,
)


@pytest.fixture(scope="module")
def spark():
    session = spark_session(
        master="local[2]", app_name="leadq-tests", shuffle_partitions=1,
        conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.adaptive.enabled": "false"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


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


# --- point in time, on Spark ---------------------------------------------------------------------
#
# Features are computed per lead, so one Spark pass can hold several "worlds": lead ids prefixed
# `b/` (the history before the cutoff), `a/` (plus events, outcomes and a lead at or after the
# cutoff) and `e/` (plus one event before the cutoff). Comparing a lead's rows across prefixes is
# comparing separate runs; both properties of tests/test_features.py are checked on one pass per
# example, because on Spark a pass costs seconds whatever the size of the data.


def _tag(prefix: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(lead_id=prefix + frame["lead_id"].astype(str))


def _worlds_features(spark, worlds: dict) -> dict:
    """{prefix: (leads, events, outcomes)} -> {prefix: features of leads p and q at the cutoff}."""
    leads, events, outcomes = (
        pd.concat([_tag(prefix, tables[i]) for prefix, tables in worlds.items()], ignore_index=True)
        for i in range(3)
    )
    data = load_spark_frames(spark, leads, events, outcomes, clock=CLOCK)
    spec = infer_attribute_spec(data, FeatureSpec())
    ids = [prefix + lead for prefix in worlds for lead in ("p", "q")]
    keys = pd.DataFrame({"lead_id": ids, "cutoff": [PIT_CUTOFF] * len(ids)})
    table = build_feature_table_spark(spark, spec, keys).drop(columns=["cutoff"])
    table["lead_id"] = table["lead_id"].str[2:]
    return {prefix: table.iloc[2 * i: 2 * i + 2].set_index("lead_id") for i, prefix in enumerate(worlds)}


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    past=_event_strategy(["p", "q"], 3 * 86400, CUT_S - 1),
    future=_event_strategy(["p", "q"], CUT_S, CUT_S + 200 * 86400),
    outcome_days=st.lists(st.integers(min_value=0, max_value=300), max_size=3),
    new_segment=st.sampled_from(["x", "z"]),
    extra_s=st.integers(min_value=3 * 86400, max_value=CUT_S - 1),
    extra_type=st.sampled_from(list(CANONICAL_EVENT_TYPES)),
)
def test_point_in_time_on_spark(spark, past, future, outcome_days, new_segment, extra_s, extra_type):
    outcomes = pd.DataFrame({
        "lead_id": ["p"] * len(outcome_days),
        "stage": ["mql"] * len(outcome_days),
        "reached_at": pd.to_datetime([START + pd.Timedelta(days=d) for d in outcome_days], utc=True),
    })
    late_lead = pd.DataFrame({"lead_id": ["r"], "created_at": [PIT_CUTOFF], "segment": [new_segment]})
    late_events = pd.concat([_frame(past), _frame(future),
                             _frame([("r", CUT_S + 10, "pricing_view", 5.0, "/pricing")])], ignore_index=True)
    f = _worlds_features(spark, {
        "b/": (LEADS, _frame(past), NO_OUTCOMES),
        "a/": (pd.concat([LEADS, late_lead], ignore_index=True), late_events, outcomes),
        "e/": (LEADS, _frame(past + [("p", extra_s, extra_type, None, None)]), NO_OUTCOMES),
    })
    # nothing at or after the cutoff changes a feature
    pd.testing.assert_frame_equal(f["b/"], f["a/"])
    # an event before the cutoff changes its count (and nothing of the other lead)
    assert f["e/"].loc["p", f"{extra_type}_all"] == f["b/"].loc["p", f"{extra_type}_all"] + 1
    assert f["e/"].loc["p", "events_all"] == f["b/"].loc["p", "events_all"] + 1
    pd.testing.assert_series_equal(f["b/"].loc["q"], f["e/"].loc["q"])
