"""Features of tiny hand-written histories equal hand-computed values; point in time holds."""

import numpy as np
import pandas as pd
import pytest
from leadq.features.examples import infer_attribute_spec, label_examples
from leadq.features.spec import FeatureSpec
from leadq.features.engine import build_feature_table, build_features
from leadq.data.load import load_frames
from leadq.data.mapping import DataMapping

CUTOFF = pd.Timestamp("2024-02-01", tz="UTC")
CLOCK = pd.Timestamp("2025-01-01", tz="UTC")


def tiny_history():
    leads = pd.DataFrame({
        "lead_id": ["a", "b", "c"],
        "created_at": ["2024-01-01", "2024-01-05", "2024-03-01"],
        "country": ["DE", "FR", None],
        "company_size": [10, 500, 50],
    })
    events = pd.DataFrame({
        "lead_id": ["a", "a", "a", "a", "a", "a", "a", "b"],
        "ts": [
            "2024-01-10 10:00", "2024-01-10 10:20", "2024-01-12 09:00", "2024-01-25 00:00:00",
            "2024-01-24 23:59:59", "2024-01-31 23:59:59", "2024-02-01 00:00:00", "2024-01-06",
        ],
        "event_type": ["content_download", "pricing_view", "pricing_view", "page_view",
                       "webinar_attend", "pricing_view", "page_view", "Viewed pricing page"],
        "duration_s": [None, 60, 30, 10, None, 20, 999, 5],
        "content_id": ["ebook-1", None, None, None, "web-1", None, None, None],
        "page": [None, "/pricing", "/pricing", "/blog/1", None, "/pricing", "/x", "/pricing"],
    })
    outcomes = pd.DataFrame({"lead_id": ["a"], "stage": ["mql"], "reached_at": ["2024-01-20"]})
    return leads, events, outcomes


def features_for(leads, events, outcomes, cutoff=CUTOFF, mapping=None, spec=None):
    data = load_frames(leads, events, outcomes, mapping=mapping, clock=CLOCK)
    spec = infer_attribute_spec(data, spec or FeatureSpec())
    return build_features(data, spec, cutoff).set_index("lead_id")


def test_hand_computed_features():
    f = features_for(*tiny_history())
    assert list(f.index) == ["a", "b"]  # c is created after the cutoff
    a = f.loc["a"]
    # the page view exactly at the cutoff is excluded, the one 1 s before the cutoff counted
    assert a["page_view_all"] == 1
    assert a["pricing_view_all"] == 3
    # 7-day window is [2024-01-25 00:00, cutoff): the page view at its edge counts, the webinar 1 s before not
    assert a["page_view_7d"] == 1
    assert a["webinar_attend_7d"] == 0 and a["webinar_attend_30d"] == 1
    assert a["pricing_view_7d"] == 1 and a["pricing_view_30d"] == 3
    assert a["events_all"] == 6 and a["events_7d"] == 2
    assert a["time_on_site_s_sum"] == 120  # 60 + 30 + 10 + 20; 999 s is at the cutoff
    assert a["time_on_pricing_view_s_sum"] == 110
    # sessions: 01-10 10:00 + 10:20 (20 min gap), 01-12, 01-24 23:59:59 + 01-25 00:00 (1 s), 01-31
    assert a["sessions_all"] == 4
    assert a["time_on_site_s_mean"] == pytest.approx(120 / 4)  # 4 timed views before the cutoff
    assert a["active_days_all"] == 5  # 01-10, 01-12, 01-24, 01-25, 01-31
    # returns: 01-12 09:00 is 46 h 40 min after 01-10 10:20; 01-31 is 19 days after 01-12 (too late)
    assert a["pricing_view_returns_all"] == 1
    assert a["days_since_last_event"] == pytest.approx(1 / 86400)
    assert a["days_since_last_content_download"] == pytest.approx(21 + 14 / 24)
    assert a["no_content_download"] == 0 and a["no_demo_request"] == 1
    assert np.isnan(a["days_since_last_demo_request"])
    assert a["distinct_content_all"] == 2 and a["distinct_pages_all"] == 2
    # trend: 2 events in the last 7 days, 4 in the 30 days before them (01-02 .. 01-25)
    assert a["trend_events_7d_vs_prev30d"] == pytest.approx(2 / 7 - 4 / 30)
    # journey: download 01-10, webinar 01-24 after it, pricing 01-31 after that; no return after it
    assert a["journey_stage"] == 3
    assert a["lead_age_days"] == 31
    assert a["company_size"] == 10 and a["country"] == "DE"
    b = f.loc["b"]
    assert b["other_all"] == 1 and b["pricing_view_all"] == 0  # unmapped type counts as other
    assert np.isnan(b["days_since_last_pricing_view"]) and b["no_pricing_view"] == 1


def test_mapped_dataset_gives_same_features():
    leads, events, outcomes = tiny_history()
    canonical = features_for(leads, events, outcomes)
    mapping = DataMapping(
        columns={"leads": {"lead_id": "contact_id", "created_at": "Created"},
                 "events": {"lead_id": "contact_id", "ts": "occurred_at", "event_type": "action",
                            "duration_s": "seconds"},
                 "outcomes": {"lead_id": "contact_id"}},
        event_types={"Downloaded e-book": "content_download", "Viewed pricing": "pricing_view",
                     "Visited page": "page_view", "Attended webinar": "webinar_attend"},
    )
    rename = {"content_download": "Downloaded e-book", "pricing_view": "Viewed pricing",
              "page_view": "Visited page", "webinar_attend": "Attended webinar"}
    mapped_events = events.rename(columns={"lead_id": "contact_id", "ts": "occurred_at",
                                           "event_type": "action", "duration_s": "seconds"})
    mapped_events["action"] = mapped_events["action"].replace(rename)
    mapped = features_for(
        leads.rename(columns={"lead_id": "contact_id", "created_at": "Created"}),
        mapped_events, outcomes.rename(columns={"lead_id": "contact_id"}), mapping=mapping,
    )
    pd.testing.assert_frame_equal(canonical, mapped)


def test_shuffling_events_changes_nothing():
    leads, events, outcomes = tiny_history()
    before = features_for(leads, events, outcomes)
    after = features_for(leads, events.sample(frac=1, random_state=3), outcomes)
    pd.testing.assert_frame_equal(before, after)


def test_ablation_spec_drops_engagement():
    spec = FeatureSpec(include_engagement=False)
    f = features_for(*tiny_history(), spec=spec)
    assert list(f.columns) == ["lead_age_days", "company_size", "country"]


# Point in time on every engine and both paths: tests/features/test_point_in_time.py.


def test_labels_follow_the_horizon_and_skip_reached_stages():
    leads, events, _ = tiny_history()
    outcomes = pd.DataFrame({
        "lead_id": ["a", "a", "b"],
        "stage": ["mql", "sql", "sql"],
        "reached_at": ["2024-01-20", "2024-02-15", "2024-03-10"],
    })
    data = load_frames(leads, events, outcomes, clock=CLOCK)
    cutoffs = [pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-02-15", tz="UTC"),
               pd.Timestamp("2024-12-01", tz="UTC")]
    labels = label_examples(data, cutoffs, ["mql", "sql"], horizon_days=30, history_end="2024-06-01")
    labels = labels.set_index(["lead_id", "cutoff"])
    # the 2024-12-01 cutoff's horizon runs past the end of the history (2024-06-01): dropped
    assert set(labels.index.get_level_values("cutoff")) == set(cutoffs[:2])
    a1 = labels.loc[("a", cutoffs[0])]
    assert np.isnan(a1["label_mql"]) and a1["label_sql"] == 1.0  # mql reached already; sql on 02-15
    assert ("a", cutoffs[1]) not in labels.index  # sql reached exactly at the cutoff: done
    b1 = labels.loc[("b", cutoffs[0])]
    assert b1["label_mql"] == 0.0 and b1["label_sql"] == 0.0  # sql 03-10 is past 03-02
    b2 = labels.loc[("b", cutoffs[1])]
    assert b2["label_mql"] == 1.0 and b2["label_sql"] == 1.0  # sql implies mql


def test_one_pass_over_all_events_equals_the_per_example_expansion(monkeypatch):
    """Scoring every open lead walks all events once, in chunks; a few examples expand their
    own events instead. Both, and any chunk size, must give the same vectors."""
    from leadq.features import engine as features
    from leadq.data import synth

    tables = synth.generate(n_leads=400, seed=11, end=pd.Timestamp("2024-12-31", tz="UTC"))
    data = load_frames(tables["leads"], tables["events"], tables["outcomes"], clock=CLOCK)
    spec = infer_attribute_spec(data, FeatureSpec())
    as_of = data.history_end() - pd.Timedelta(days=20)
    everyone = build_features(data, spec, as_of).set_index("lead_id")
    assert len(everyone) > 300 and everyone["events_all"].sum() > 0.5 * len(data.events)
    few = everyone.index[::25]
    one_by_one = build_feature_table(data, spec, pd.DataFrame({"lead_id": few, "cutoff": as_of}))
    pd.testing.assert_frame_equal(one_by_one.drop(columns="cutoff").set_index("lead_id"), everyone.loc[few])
    monkeypatch.setattr(features, "CHUNK_ROWS", 64)
    pd.testing.assert_frame_equal(build_features(data, spec, as_of).set_index("lead_id"), everyone)
    pd.testing.assert_frame_equal(
        build_feature_table(data, spec, pd.DataFrame({"lead_id": few, "cutoff": as_of})), one_by_one)


def test_counting_chunks_end_where_a_unit_ends(monkeypatch):
    """Chunks are counted on two threads; a unit (an example's rows) never straddles two chunks,
    so no two threads write the same cells. Boundaries snap forward to the next unit end."""
    from leadq.features import engine as features

    monkeypatch.setattr(features, "CHUNK_ROWS", 64)
    ends = np.array([3, 5, 200, 201, 260, 330])
    assert features._aligned_bounds(ends).tolist() == [0, 200, 260, 330]
    assert features._aligned_bounds(np.array([10, 20])).tolist() == [0, 20]
    assert features._aligned_bounds(np.array([], dtype=np.int64)).tolist() == [0]
