"""The feature engines (`engine` fixture: numpy, the compiled SQL of `leadq.features.sql` run by
DuckDB, Spark) on tiny hand-made histories, against hand-computed values: the cases the drawn
histories of test_point_in_time.py do not reach (event types that need quoting, a spec other
than the default)."""

import pandas as pd

from leadq.features.spec import FeatureSpec

CLOCK = pd.Timestamp("2025-01-01", tz="UTC")
CUTOFF = pd.Timestamp("2024-02-01", tz="UTC")
NO_OUTCOMES = pd.DataFrame({"lead_id": pd.Series([], dtype=object), "stage": pd.Series([], dtype=object),
                            "reached_at": pd.Series([], dtype="datetime64[us, UTC]")})


def features_of(engine, leads, events, spec, cutoff=CUTOFF) -> pd.DataFrame:
    data = engine.load((leads, events, NO_OUTCOMES), CLOCK)
    return engine.features_at(data, cutoff, spec).set_index("lead_id")


ODD_TYPES = FeatureSpec(
    event_types=["it's new", "trial signup", "page_view"], recency_types=["trial signup"],
    duration_types=["trial signup"], return_event_type="trial signup", journey_types=["it's new", "trial signup"],
)


def test_event_types_with_a_quote_and_a_space_are_counted_under_their_own_names(engine):
    """A spec's own event types may hold any character: the SQL quotes every name made from
    one (a type with a space in `duration_types` broke the compiled SQL before)."""
    leads = pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"]})
    events = pd.DataFrame({
        "lead_id": ["a"] * 5,
        "ts": ["2024-01-10", "2024-01-11", "2024-01-12", "2024-01-29", "2024-02-01"],
        "event_type": ["it's new", "trial signup", "trial signup", "page_view", "trial signup"],
        "duration_s": [5.0, 7.0, None, 3.0, 100.0],
    })
    a = features_of(engine, leads, events, ODD_TYPES).loc["a"]
    assert (a["it's new_7d"], a["it's new_30d"], a["it's new_all"]) == (0, 1, 1)
    assert (a["trial signup_7d"], a["trial signup_all"]) == (0, 2)  # the one at the cutoff is not seen
    assert (a["page_view_7d"], a["other_all"], a["events_all"]) == (1, 0, 4)
    assert a["time_on_site_s_sum"] == 15 and a["time_on_site_s_mean"] == 5  # three timed events
    assert a["time_on_trial signup_s_sum"] == 7
    assert a["days_since_last_trial signup"] == 20 and a["no_trial signup"] == 0
    assert a["days_since_last_event"] == 3
    # 01-12 is a return (24 h after 01-11); journey: it's new 01-10, trial signup 01-11, return 01-12
    assert a["trial signup_returns_all"] == 1 and a["trial signup_returns_30d"] == 1
    assert a["journey_stage"] == 3
