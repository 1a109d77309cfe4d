"""Who is an example at a cutoff, and its label: the boundaries, by hand.

A stage reached exactly at the cutoff counts as reached (the lead is no example for it); one
reached exactly at cutoff + horizon is inside the horizon (a positive); a later stage implies the
earlier ones; a customer by the cutoff and a lead created at it are no examples at all.
"""

import numpy as np
import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.features.examples import build_examples, infer_attribute_spec, label_examples, snapshot_cutoffs
from leadq.features.spec import FeatureSpec
from leadq.features.engine import open_leads
from leadq.data.load import load_frames

C = pd.Timestamp("2024-03-01", tz="UTC")
HORIZON = pd.Timedelta(days=30)
US = pd.Timedelta(microseconds=1)
CLOCK = pd.Timestamp("2025-01-01", tz="UTC")

# lead -> (created_at, [(stage, reached_at), ...])
HISTORIES = {
    "mql_at_cutoff": (None, [("mql", C)]),
    "mql_at_horizon_end": (None, [("mql", C + HORIZON)]),
    "mql_just_after": (None, [("mql", C + US)]),
    "mql_too_late": (None, [("mql", C + HORIZON + US)]),
    "mql_before": (None, [("mql", C - US), ("sql", C + HORIZON)]),
    "sql_at_cutoff": (None, [("sql", C)]),
    "sql_in_horizon": (None, [(" SQL ", C + pd.Timedelta(days=3))]),
    "customer_at_cutoff": (None, [("customer", C)]),
    "customer_in_horizon": (None, [("customer", C + pd.Timedelta(days=1))]),
    "created_at_cutoff": (C, []),
    "created_just_before": (C - US, []),
    "nothing": (None, []),
}


def tables():
    created = pd.Timestamp("2024-01-01", tz="UTC")
    leads = pd.DataFrame({"lead_id": list(HISTORIES),
                          "created_at": [c if c is not None else created for c, _ in HISTORIES.values()],
                          "plan": ["free", "pro"] * 6, "seats": np.arange(12, dtype=float)})
    outcomes = pd.DataFrame([(lead, stage, at) for lead, (_, reached) in HISTORIES.items() for stage, at in reached],
                            columns=["lead_id", "stage", "reached_at"])
    events = pd.DataFrame({"lead_id": ["nothing", "nothing"], "ts": [C - pd.Timedelta(days=2), C + pd.Timedelta(days=60)],
                           "event_type": ["page_view", "page_view"]})
    return leads, events, outcomes


@pytest.fixture(scope="module")
def data():
    return load_frames(*tables(), clock=CLOCK)


def test_labels_at_the_boundaries(data):
    labels = label_examples(data, [C], ["mql", "sql"], horizon_days=30, history_end="2024-12-01")
    got = {row.lead_id: (row.label_mql, row.label_sql) for row in labels.itertuples()}
    nan = np.nan
    expected = {
        "mql_at_cutoff": (nan, 0.0),  # reached exactly at the cutoff: no example for mql
        "mql_at_horizon_end": (1.0, 0.0),  # exactly cutoff + horizon: inside
        "mql_just_after": (1.0, 0.0),
        "mql_too_late": (0.0, 0.0),  # 1 µs past the horizon
        "mql_before": (nan, 1.0),  # sql exactly at the horizon's end
        "sql_in_horizon": (1.0, 1.0),  # sql implies mql; stages compared trimmed, lower-cased
        "customer_in_horizon": (1.0, 1.0),  # a customer has been an sql and an mql
        "created_just_before": (0.0, 0.0),
        "nothing": (0.0, 0.0),
    }
    # no example at all: sql by the cutoff (both targets reached), a customer by it, created at it
    assert sorted(got) == sorted(expected)
    for lead, (mql, sql) in expected.items():
        np.testing.assert_array_equal(got[lead], (mql, sql), err_msg=lead)
    assert (labels["cutoff"] == C).all()
    assert list(labels.columns) == ["lead_id", "cutoff", "label_mql", "label_sql"]


def test_a_single_target_keeps_leads_open_for_it():
    data = load_frames(*tables(), clock=CLOCK)
    labels = label_examples(data, [C], ["sql"], horizon_days=30, history_end="2024-12-01").set_index("lead_id")
    # mql reached by the cutoff does not matter when only sql is a target
    assert labels.loc["mql_at_cutoff", "label_sql"] == 0.0 and labels.loc["mql_before", "label_sql"] == 1.0
    assert "sql_at_cutoff" not in labels.index and "customer_at_cutoff" not in labels.index


def test_a_cutoff_is_kept_only_when_its_horizon_fits_the_history(data):
    def cutoffs_kept(end):
        labels = label_examples(data, [C, C - pd.Timedelta(days=7)], ["mql"], 30, history_end=end)
        return sorted(set(labels["cutoff"]))

    assert cutoffs_kept(C + HORIZON) == [C - pd.Timedelta(days=7), C]  # ends exactly at the end
    assert cutoffs_kept(C + HORIZON - US) == [C - pd.Timedelta(days=7)]
    empty = label_examples(data, [C], ["mql", "sql"], 30, history_end=C)
    assert empty.empty and list(empty.columns) == ["lead_id", "cutoff", "label_mql", "label_sql"]


def test_default_history_end_is_the_latest_event_or_outcome(data):
    # latest: the page view at C + 60 days, so a horizon of 60 days fits exactly and 61 does not
    assert data.history_end() == C + pd.Timedelta(days=60)
    assert set(label_examples(data, [C], ["mql"], 60)["cutoff"]) == {C}
    assert label_examples(data, [C], ["mql"], 61).empty


def test_a_sample_per_cutoff_is_seeded_and_sized(data):
    cutoffs = [C, C + pd.Timedelta(days=7)]
    full = label_examples(data, cutoffs, ["mql"], 30, history_end="2024-12-01")
    sample = label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, seed=4, history_end="2024-12-01")
    again = label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, seed=4, history_end="2024-12-01")
    other = label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, seed=5, history_end="2024-12-01")
    assert sample.groupby("cutoff").size().tolist() == [3, 3]
    pd.testing.assert_frame_equal(sample, again)
    assert not sample.equals(other)
    keyed = full.set_index(["lead_id", "cutoff"])["label_mql"]
    pd.testing.assert_series_equal(sample.set_index(["lead_id", "cutoff"])["label_mql"],
                                   keyed.loc[sample.set_index(["lead_id", "cutoff"]).index])


def test_open_leads_and_their_stage_at_the_cutoff(data):
    leads = open_leads(data, C).set_index("lead_id")
    assert "created_at_cutoff" not in leads.index and "customer_at_cutoff" not in leads.index
    assert "customer_in_horizon" in leads.index and "created_just_before" in leads.index
    assert leads.loc["mql_at_cutoff", "current_stage"] == "mql"  # reached exactly at the cutoff
    assert leads.loc["sql_at_cutoff", "current_stage"] == "sql"
    assert leads.loc["mql_before", "current_stage"] == "mql"
    assert leads.loc["mql_just_after", "current_stage"] == "lead"
    assert leads.loc["sql_in_horizon", "current_stage"] == "lead"
    assert list(leads.index) == sorted(leads.index) and (leads["cutoff"] == C).all()
    assert len(leads) == 10


def test_snapshot_cutoffs_are_weekly_midnights_that_fit_the_horizon(data):
    # history ends C + 60 days = 2024-04-30; the last cutoff is 30 days before, at midnight
    cutoffs = snapshot_cutoffs(data, cadence_days=7, horizon_days=30, start="2024-03-10")
    assert cutoffs == [pd.Timestamp(d, tz="UTC") for d in ("2024-03-10", "2024-03-17", "2024-03-24", "2024-03-31")]
    cutoffs = snapshot_cutoffs(data, cadence_days=14, horizon_days=30, end="2024-04-01 13:00")
    # the last: 2024-03-02 13:00 floored to midnight; the first at or after the default start,
    # the first lead's creation (2024-01-01) plus one cadence (2024-01-15)
    assert cutoffs == [pd.Timestamp(d, tz="UTC") for d in ("2024-01-20", "2024-02-03", "2024-02-17", "2024-03-02")]


def test_snapshot_cutoffs_need_some_history():
    leads, _, _ = tables()
    empty = load_frames(leads, pd.DataFrame({"lead_id": [], "ts": [], "event_type": []}),
                        pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}), clock=CLOCK)
    with pytest.raises(BadInputError, match="no events or outcomes to build cutoffs from"):
        snapshot_cutoffs(empty, 7, 30)


def test_attribute_spec_is_inferred_unless_given(data):
    spec = infer_attribute_spec(data, FeatureSpec())
    assert spec.numeric_attributes == ["seats"] and spec.categorical_attributes == ["plan"]
    assert infer_attribute_spec(data, FeatureSpec(exclude_features=["plan"])).categorical_attributes == []
    given = FeatureSpec(numeric_attributes=["seats"])
    assert infer_attribute_spec(data, given) is given


def test_examples_carry_features_as_of_their_cutoff_and_the_labels(data):
    examples = build_examples(data, infer_attribute_spec(data, FeatureSpec()), [C, C + pd.Timedelta(days=7)], ["mql", "sql"], 30,
                              history_end="2024-12-01")
    row = examples.set_index(["lead_id", "cutoff"]).loc[("nothing", C)]
    # one page view two days before C; the one at C + 60 days is not seen
    assert row["page_view_all"] == 1 and row["days_since_last_event"] == 2.0
    assert row["label_mql"] == 0.0 and row["lead_age_days"] == 60.0
    later = examples.set_index(["lead_id", "cutoff"]).loc[("mql_at_horizon_end", C + pd.Timedelta(days=7))]
    assert later["label_mql"] == 1.0 and later["seats"] == 1.0


def _small(outcomes, leads=None):
    leads = leads if leads is not None else pd.DataFrame({"lead_id": ["a", "b", "c"],
                                                          "created_at": ["2024-01-01"] * 3})
    events = pd.DataFrame({"lead_id": leads["lead_id"][:1], "ts": ["2024-02-01"], "event_type": ["page_view"]})
    return load_frames(leads, events, pd.DataFrame(outcomes, columns=["lead_id", "stage", "reached_at"]), clock=CLOCK)


def test_a_target_no_outcome_reaches_is_one_line_naming_the_stages_present():
    from leadq.features.examples import check_targets_reached

    data = _small([("a", "mql", "2024-02-01"), ("b", "mql", "2024-02-02"), ("c", "won", "2024-02-03")])
    check_targets_reached(data, ["mql", "won"])
    with pytest.raises(BadInputError) as caught:
        check_targets_reached(data, ["mql", "sql"])
    assert caught.value.message == ("<outcomes frame>: column 'stage' never reaches target 'sql' (0 of 3 rows); "
                                    "stages present: mql, won")
    check_targets_reached(_small([("a", "customer", "2024-02-01")]), ["mql", "sql"])  # implied by a customer
    with pytest.raises(BadInputError) as caught:
        check_targets_reached(_small([]), ["mql"])
    assert caught.value.message == ("<outcomes frame>: column 'stage' never reaches target 'mql' (0 of 0 rows); "
                                    "stages present: none")


def test_a_stage_name_with_a_quote_labels_like_any_other():
    data = _small([("a", "won't renew", "2024-02-10"), ("b", "won't renew", "2024-04-10")])
    labels = label_examples(data, [pd.Timestamp("2024-02-01", tz="UTC")], ["won't renew"], 30,
                            history_end="2024-12-01")
    assert labels.columns.tolist() == ["lead_id", "cutoff", "label_won't renew"]
    assert labels["label_won't renew"].tolist() == [1.0, 0.0, 0.0]


def test_stray_early_leads_do_not_stretch_the_cutoffs_back():
    # one placeholder creation date in 1970 among 300 leads created on 2024-01-01: the first
    # cutoff is at or after the time by which 1 % of the leads existed, not 1970 plus a week
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(300)],
                          "created_at": ["1970-01-01"] + ["2024-01-01"] * 299})
    data = _small([], leads)
    cutoffs = snapshot_cutoffs(data, cadence_days=7, horizon_days=30, end="2024-03-01")
    assert cutoffs == [pd.Timestamp(d, tz="UTC") for d in ("2024-01-03", "2024-01-10", "2024-01-17",
                                                           "2024-01-24", "2024-01-31")]


def test_no_leads_to_build_cutoffs_for_is_one_line():
    data = load_frames(pd.DataFrame({"lead_id": [], "created_at": []}),
                       pd.DataFrame({"lead_id": [], "ts": [], "event_type": []}),
                       pd.DataFrame({"lead_id": [], "stage": [], "reached_at": []}), clock=CLOCK, require_leads=False)
    with pytest.raises(BadInputError) as caught:
        snapshot_cutoffs(data, 7, 30, end="2024-03-01")
    assert caught.value.message == "<leads frame>: column 'created_at': no leads to build cutoffs for (0 rows)"


def test_build_examples_hands_the_sample_the_seed_and_the_history_end_to_the_labels(data):
    spec = FeatureSpec(include_engagement=False, numeric_attributes=["seats"], categorical_attributes=[])
    cutoffs = [C, C + pd.Timedelta(days=7)]
    sample = label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, seed=0, history_end="2024-12-01")
    assert label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, history_end="2024-12-01").equals(sample)
    for seed in (0, 4):
        expected = label_examples(data, cutoffs, ["mql"], 30, leads_per_cutoff=3, seed=seed, history_end="2024-12-01")
        kwargs = {} if seed == 0 else {"seed": seed}
        built = build_examples(data, spec, cutoffs, ["mql"], 30, leads_per_cutoff=3, history_end="2024-12-01", **kwargs)
        pd.testing.assert_frame_equal(built[["lead_id", "cutoff", "label_mql"]].reset_index(drop=True),
                                      expected.reset_index(drop=True), check_dtype=False)
    # the history ends 2024-02-20: C + 30 days fits, C + 7 + 30 days does not
    short = build_examples(data, spec, cutoffs, ["mql"], 30, history_end=C + pd.Timedelta(days=31))
    assert set(short["cutoff"]) == {C}
