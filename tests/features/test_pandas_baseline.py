"""The pandas baseline (benchmarks/pandas_features.py) equals the DuckDB engine column by column.

Two independent implementations of the same feature vector cross-check each other on a small
synthetic funnel plus hand-made edge cases (events exactly at window edges and at the cutoff,
returns exactly 12 h and 7 days after a pricing view, a 30-minute gap, ties, unmapped types,
leads without events, customers), at several cutoffs.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadq.data import synth
from leadq.features.examples import infer_attribute_spec
from leadq.features.spec import FeatureSpec
from leadq.features.engine import build_features
from leadq.data.load import load_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import pandas_features as pf  # noqa: E402

END = pd.Timestamp("2026-06-30", tz="UTC")
CLOCK = pd.Timestamp("2030-01-01", tz="UTC")
EDGE_CUT = pd.Timestamp("2026-03-01", tz="UTC")
CUTOFFS = [pd.Timestamp("2025-11-15", tz="UTC"), EDGE_CUT, pd.Timestamp("2026-06-29 12:34:56", tz="UTC")]


def _edge_cases():
    """Leads whose events sit exactly on the boundaries the features depend on."""
    c = EDGE_CUT
    day, hour, minute = pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(minutes=1)
    leads = pd.DataFrame({
        "lead_id": ["E1", "E2", "E3", "E4", "E5", "E6"],
        "created_at": [c - 200 * day, c - 100 * day, c - 50 * day, c - 10 * day, c - 40 * day, c - 60 * day],
        "source": ["web", None, "partner", "web", "event", "web"],
        "country": ["DE", "FR", None, "US", "DE", "FR"],
        "industry": ["saas", "saas", "retail", None, "retail", "saas"],
        "company_size": [10, 500, None, 3, 50, 7],
        "job_title": ["CTO", "Engineer", "CEO", None, "Analyst", "CTO"],
    })
    rows = [
        # E1: window edges and the cutoff itself
        ("E1", c - 7 * day, "page_view", 10.0, "/a", None),
        ("E1", c - 7 * day - pd.Timedelta(microseconds=1), "page_view", 5.0, "/a", None),
        ("E1", c - 30 * day, "email_open", None, None, None),
        ("E1", c - 37 * day, "email_click", None, None, None),
        ("E1", c - 37 * day - pd.Timedelta(microseconds=1), "email_click", None, None, None),
        ("E1", c - 90 * day, "content_download", None, None, "ebook-1"),
        ("E1", c - pd.Timedelta(microseconds=1), "careers_view", 3.0, "/careers", None),
        ("E1", c, "demo_request", 99.0, "/demo", None),
        ("E1", c + day, "pricing_view", 99.0, "/pricing", None),
        # E2: returns exactly 12 h and 7 days after an earlier pricing view; sessions at 30 min
        ("E2", c - 20 * day, "pricing_view", 60.0, "/pricing", None),
        ("E2", c - 20 * day + 12 * hour, "pricing_view", 30.0, "/pricing", None),  # return (12 h)
        ("E2", c - 20 * day + 12 * hour - pd.Timedelta(microseconds=1), "page_view", None, "/b", None),
        ("E2", c - 13 * day, "pricing_view", 20.0, "/pricing", None),  # 6.5 d after the second: return
        ("E2", c - 13 * day + 30 * minute, "page_view", 1.0, "/b", None),  # gap of exactly 30 min
        ("E2", c - 13 * day + 61 * minute, "page_view", 1.0, "/b", None),  # 31 min: new session
        ("E2", c - 13 * day + 61 * minute, "webinar_attend", None, None, "web-1"),  # tie
        ("E2", c - 2 * day, "pricing_view", None, "/pricing", None),
        ("E2", c - 2 * day + 11 * hour, "pricing_view", None, "/pricing", None),  # 11 h: no return
        # E3: unmapped types, journey out of order, durations all missing
        ("E3", c - 40 * day, "pricing_view", None, "/pricing", None),
        ("E3", c - 30 * day, "webinar_attend", None, None, "web-2"),
        ("E3", c - 20 * day, "content_download", None, None, "ebook-2"),
        ("E3", c - 19 * day, "webinar_attend", None, None, "web-2"),
        ("E3", c - 18 * day, "pricing_view", None, "/pricing", None),
        ("E3", c - 17 * day, "pricing_view", None, "/pricing", None),
        ("E3", c - 5 * day, "custom_thing", None, "/x", None),
        ("E3", c - 5 * day, "Other Thing", None, "/x", None),
        # E5: dropped by validation (before created_at) and a customer for the later cutoff
        ("E5", c - 41 * day, "pricing_view", 5.0, "/pricing", None),
        ("E5", c - 3 * day, "form_submit", 5.0, "/form", None),
        # E6: a return exactly 7 days after a pricing view, and one 7 days + 1 µs after
        ("E6", c - 30 * day, "pricing_view", 1.0, "/pricing", None),
        ("E6", c - 23 * day, "pricing_view", 1.0, "/pricing", None),
        ("E6", c - 10 * day, "pricing_view", 1.0, "/pricing", None),
        ("E6", c - 3 * day + pd.Timedelta(microseconds=1), "pricing_view", 1.0, "/pricing", None),
        # unknown lead
        ("ZZ", c - 3 * day, "form_submit", 5.0, "/form", None),
    ]
    events = pd.DataFrame(rows, columns=["lead_id", "ts", "event_type", "duration_s", "page", "content_id"])
    events["channel"] = "web"
    outcomes = pd.DataFrame({
        "lead_id": ["E5", "E5", "E4"],
        "stage": ["sql", "customer", "MQL"],
        "reached_at": [c - day, c + 10 * day, c - day],
    })
    return leads, events, outcomes


@pytest.fixture(scope="module")
def raw_tables():
    tables = synth.generate(n_leads=300, seed=7, end=END)
    e_leads, e_events, e_outcomes = _edge_cases()
    leads = pd.concat([tables["leads"], e_leads], ignore_index=True)
    events = pd.concat([tables["events"], e_events], ignore_index=True)
    outcomes = pd.concat([tables["outcomes"], e_outcomes], ignore_index=True)
    return leads, events, outcomes


@pytest.fixture(scope="module")
def loaded(raw_tables):
    data = load_frames(*raw_tables, clock=CLOCK)
    spec = infer_attribute_spec(data, FeatureSpec())
    return data, spec


def assert_same_features(expected: pd.DataFrame, actual: pd.DataFrame, spec: FeatureSpec) -> None:
    assert list(actual.columns) == ["lead_id", *spec.feature_columns()]
    assert list(actual["lead_id"]) == list(expected["lead_id"])
    categorical = set(spec.categorical_columns())
    for name in spec.feature_columns():
        want, got = expected[name], actual[name]
        if name in categorical:
            w = want.astype(object).where(want.notna(), None).tolist()
            g = got.astype(object).where(got.notna(), None).tolist()
            assert w == g, name
            continue
        w, g = want.to_numpy(dtype=float), got.to_numpy(dtype=float)
        same_nan = np.isnan(w) == np.isnan(g)
        close = np.isclose(w, g, rtol=1e-9, atol=1e-9) | (np.isnan(w) & np.isnan(g))
        bad = np.flatnonzero(~(same_nan & close))
        assert not len(bad), (
            f"{name}: {len(bad)} rows differ, e.g. lead {expected['lead_id'].iloc[bad[0]]}: "
            f"duckdb={w[bad[0]]!r} pandas={g[bad[0]]!r}"
        )


@pytest.mark.parametrize("cutoff", CUTOFFS, ids=lambda c: c.strftime("%Y-%m-%d"))
def test_pandas_baseline_equals_duckdb_engine(loaded, cutoff):
    data, spec = loaded
    expected = build_features(data, spec, cutoff)
    actual = pf.pandas_features(data.frame("leads"), data.frame("events"), data.frame("outcomes"), spec, cutoff)
    assert len(expected) > 100
    assert_same_features(expected, actual, spec)


def test_pandas_validation_and_attribute_inference_match_leadq(raw_tables, loaded):
    data, spec = loaded
    leads, events, outcomes = pf.validate_tables(*raw_tables, clock=CLOCK)
    assert (len(leads), len(events), len(outcomes)) == (
        data.count("leads"), data.count("events"), data.count("outcomes"))
    assert pf.infer_attribute_spec(leads, FeatureSpec()) == spec
    expected = build_features(data, spec, EDGE_CUT)
    assert_same_features(expected, pf.pandas_features(leads, events, outcomes, spec, EDGE_CUT), spec)


def test_edge_cases_are_exercised(loaded):
    """The hand-made leads hit the boundaries they are meant to (guards against a vacuous test)."""
    data, spec = loaded
    f = build_features(data, spec, EDGE_CUT).set_index("lead_id")
    assert f.loc["E1", "page_view_7d"] == 1 and f.loc["E1", "page_view_all"] == 2
    assert f.loc["E1", "email_open_30d"] == 1 and f.loc["E1", "demo_request_all"] == 0
    assert f.loc["E2", "pricing_view_returns_all"] == 2
    assert f.loc["E6", "pricing_view_returns_all"] == 1 and f.loc["E6", "pricing_view_returns_30d"] == 1
    assert f.loc["E3", "other_all"] == 2 and np.isnan(f.loc["E3", "time_on_site_s_mean"])
    assert f.loc["E3", "journey_stage"] == 4
    assert "E4" in f.index and "E5" in f.index
    late = build_features(data, spec, CUTOFFS[-1]).set_index("lead_id")
    assert "E5" not in late.index  # customer by then


def test_every_engine_on_both_paths_equals_the_baseline(engine, raw_tables):
    """Each engine (numpy, the Spark SQL on DuckDB, Spark) on the synthetic funnel and the edge
    cases: every open lead at each cutoff, and the same (lead, cutoff) rows at once."""
    leads, events, outcomes = pf.validate_tables(*raw_tables, clock=CLOCK)
    spec = pf.infer_attribute_spec(leads, FeatureSpec())
    expected = {c: pf.pandas_features(leads, events, outcomes, spec, c) for c in CUTOFFS}
    data = engine.load(raw_tables, CLOCK)
    for cutoff in CUTOFFS:
        assert_same_features(expected[cutoff], engine.features_at(data, cutoff), spec)
    examples = pd.concat([expected[c][["lead_id"]].assign(cutoff=c) for c in CUTOFFS], ignore_index=True)
    examples = examples.sample(frac=1.0, random_state=2).reset_index(drop=True)  # any order
    table = engine.feature_table(data, examples)
    assert list(table["lead_id"]) == list(examples["lead_id"])
    for cutoff in CUTOFFS:
        rows = table[table["cutoff"] == cutoff].drop(columns="cutoff").sort_values("lead_id", kind="stable")
        assert_same_features(expected[cutoff], rows.reset_index(drop=True), spec)
