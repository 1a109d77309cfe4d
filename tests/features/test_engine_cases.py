"""The in-process engine (`leadq.features.engine`) on tiny hand-made histories, against
hand-computed values: the example tables the drawn histories of test_point_in_time.py do not
make (a lead twice at one cutoff, a lead the data does not know)."""

import warnings

import numpy as np
import pandas as pd

from leadq.data.load import load_frames
from leadq.features.engine import build_feature_table, open_leads
from leadq.features.examples import infer_attribute_spec
from leadq.features.spec import FeatureSpec

CLOCK = pd.Timestamp("2025-01-01", tz="UTC")
CUTOFF = pd.Timestamp("2024-02-01", tz="UTC")


def one_active_lead():
    """Lead `a` holds every event; `b` has none."""
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": ["2024-01-01", "2024-01-05"],
                          "country": ["DE", "FR"], "company_size": [10, 500]})
    events = pd.DataFrame({
        "lead_id": ["a", "a", "a"],
        "ts": ["2024-01-10", "2024-01-20", "2024-01-31 12:00"],
        "event_type": ["pricing_view", "page_view", "pricing_view"],
        "duration_s": [60.0, None, 30.0],
    })
    outcomes = pd.DataFrame({"lead_id": ["b"], "stage": ["mql"], "reached_at": ["2024-03-01"]})
    data = load_frames(leads, events, outcomes, clock=CLOCK)
    return data, infer_attribute_spec(data, FeatureSpec())


def test_a_lead_twice_at_one_cutoff_and_an_unknown_lead():
    """Rows are described one by one, in their order, whatever else is in the table: the same
    lead twice at one cutoff gets its vector twice, a lead id the data does not know a row of
    missing values."""
    data, spec = one_active_lead()
    examples = pd.DataFrame({"lead_id": ["a", "zz", "a"], "cutoff": [CUTOFF] * 3}, index=[10, 11, 12])
    table = build_feature_table(data, spec, examples)
    assert list(table.columns) == ["lead_id", "cutoff", *spec.feature_columns()]
    assert list(table["lead_id"]) == ["a", "zz", "a"] and list(table.index) == [0, 1, 2]
    for row in (0, 2):
        a = table.loc[row]
        assert (a["pricing_view_all"], a["page_view_all"], a["events_all"], a["pricing_view_7d"]) == (2, 1, 3, 1)
        assert a["time_on_site_s_sum"] == 90 and a["time_on_site_s_mean"] == 45
        assert a["days_since_last_event"] == 0.5 and a["lead_age_days"] == 31
        assert a["sessions_all"] == 3 and a["pricing_view_returns_all"] == 0  # 21 days apart: no return
        assert a["company_size"] == 10 and a["country"] == "DE"
    unknown = table.loc[1]
    assert np.isnan(unknown[spec.numeric_columns()].to_numpy(dtype=float)).all()
    assert unknown["country"] is None


def test_cutoffs_in_other_time_zones_name_the_same_instant():
    """Cutoffs written with their offsets (mixed zones) are instants: both rows are as of
    2024-02-01 00:00 UTC. The examples handed to DuckDB are not left behind in the connection."""
    data, spec = one_active_lead()
    examples = pd.DataFrame({"lead_id": ["a", "a"], "cutoff": ["2024-02-01T01:00:00+01:00", "2024-01-31T19:00:00-05:00"]})
    table = build_feature_table(data, spec, examples)
    assert table["days_since_last_event"].tolist() == [0.5, 0.5] and table["lead_age_days"].tolist() == [31, 31]
    assert table["pricing_view_7d"].tolist() == [1, 1]
    tables = {name for (name,) in data.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "examples_input" not in tables


def test_a_lead_without_timed_events_gets_no_mean_and_no_numpy_warning():
    """Lead `b` has no events: its mean time on site is missing, quietly (a scoring run's output
    carries no RuntimeWarning about dividing by zero)."""
    data, spec = one_active_lead()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = build_feature_table(data, spec, pd.DataFrame({"lead_id": ["b"], "cutoff": [CUTOFF]})).loc[0]
    assert np.isnan(b["time_on_site_s_mean"]) and b["time_on_site_s_sum"] == 0 and b["events_all"] == 0
    assert np.isnan(b["days_since_last_event"]) and b["no_pricing_view"] == 1


def test_distinct_leads_at_different_cutoffs_each_count_to_their_own():
    """Every example's lead is distinct and they hold all the events, but the cutoffs differ:
    `a` as of 01-25 sees two of its three events."""
    data, spec = one_active_lead()
    examples = pd.DataFrame({"lead_id": ["b", "a"], "cutoff": [CUTOFF, pd.Timestamp("2024-01-25", tz="UTC")]})
    a = build_feature_table(data, spec, examples).loc[1]
    assert (a["events_all"], a["pricing_view_all"], a["page_view_all"]) == (2, 1, 1)
    assert a["days_since_last_event"] == 5 and a["lead_age_days"] == 24


def test_one_example_alone_and_a_second_spec_on_the_same_data():
    """A single (lead, cutoff) row holding every event; then a spec without attributes, then
    one with them, on the same loaded data: each gets its own columns."""
    data, spec = one_active_lead()
    bare = build_feature_table(data, FeatureSpec(), pd.DataFrame({"lead_id": ["a"], "cutoff": [CUTOFF]}))
    assert bare.loc[0, "events_all"] == 3 and "company_size" not in bare.columns
    full = build_feature_table(data, spec, pd.DataFrame({"lead_id": ["a"], "cutoff": [CUTOFF]}))
    assert full.loc[0, "company_size"] == 10 and full.loc[0, "country"] == "DE"


def test_an_ablation_drops_the_excluded_features_and_keeps_the_values_of_the_rest():
    data, spec = one_active_lead()
    ablated = spec.model_copy(update={"exclude_features": ["events_all", "company_size"]})
    table = build_feature_table(data, ablated, pd.DataFrame({"lead_id": ["a"], "cutoff": [CUTOFF]}))
    assert "events_all" not in table.columns and "company_size" not in table.columns
    assert list(table.columns) == ["lead_id", "cutoff", *ablated.feature_columns()]
    a = table.loc[0]
    assert (a["events_7d"], a["pricing_view_all"], a["lead_age_days"], a["country"]) == (1, 2, 31, "DE")


def test_open_leads_columns_and_keys_on_request():
    data, _ = one_active_lead()
    leads = open_leads(data, CUTOFF)
    assert list(leads.columns) == ["lead_id", "cutoff", "current_stage"]
    assert leads["lead_id"].tolist() == ["a", "b"] and leads["current_stage"].tolist() == ["lead", "lead"]
    assert open_leads(data, CUTOFF, with_keys=True)["lead_key"].tolist() == [1, 2]
