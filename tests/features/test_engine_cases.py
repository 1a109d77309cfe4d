"""The in-process engine (`leadq.features.engine`) on tiny hand-made histories, against
hand-computed values: the example tables the drawn histories of test_point_in_time.py do not
make (a lead twice at one cutoff, a lead the data does not know)."""

import numpy as np
import pandas as pd

from leadq.data.load import load_frames
from leadq.features.engine import build_feature_table
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
