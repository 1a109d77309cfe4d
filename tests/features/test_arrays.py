"""The array helpers behind the in-process feature engine, against plain reference computations.

Each helper has a fast path (packed 64-bit sorts, a direct-mapped code table) and a general
fallback; both must give the reference answer.
"""

import numpy as np
import pandas as pd
import pytest

from leadq.data.contract import CANONICAL_EVENT_TYPES
from leadq.data.load import load_frames
from leadq.features import arrays as ea
from leadq.features.spec import FeatureSpec


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_lead_time_order_sorts_by_lead_then_time_keeping_ties_in_input_order(rng):
    lead = rng.integers(1, 50, 5_000).astype(np.int32)
    us = rng.integers(0, 200, 5_000).astype(np.int64)  # many ties
    order = ea.lead_time_order(lead, us)
    assert np.array_equal(order, np.lexsort((np.arange(len(us)), us, lead)))


def test_first_occurrence_marks_the_first_row_of_each_key_fast_and_fallback(rng):
    keys = rng.integers(0, 300, 4_000)
    expected = np.zeros(len(keys), dtype=bool)
    expected[np.unique(keys, return_index=True)[1]] = True
    assert np.array_equal(ea.first_occurrence(keys), expected)
    huge = keys.astype(np.int64) << 50  # too many bits to pack with a position: the fallback
    assert np.array_equal(ea.first_occurrence(huge), expected)


def test_dense_codes_are_exact_for_few_and_for_many_distinct_hashes(rng):
    for n_distinct in (5, 300_000):  # the table path, then searchsorted
        distinct = rng.integers(1, 2**63, n_distinct, dtype=np.int64).astype(np.uint64)
        hashes = distinct[rng.integers(0, n_distinct, 400_000)]
        hashes[::7] = 0  # no value
        codes, n = ea.dense_codes(hashes)
        present = hashes != 0
        assert n == len(np.unique(hashes[present]))
        assert np.all(codes[~present] == -1)
        assert codes.dtype == np.int32  # 4 bytes a row, not 8: codes of every event are held at once
        # codes are a bijection of the distinct hashes
        pairs = np.unique(np.stack([codes[present], hashes[present].astype(np.int64)]), axis=1)
        assert pairs.shape[1] == n and len(np.unique(pairs[0])) == n


def test_return_marks_match_a_pairwise_reference(rng):
    lead = np.sort(rng.integers(1, 30, 2_000)).astype(np.int64)
    us = np.zeros(len(lead), dtype=np.int64)
    for k in np.unique(lead):
        rows = lead == k
        us[rows] = np.sort(rng.integers(0, 20 * ea.US_PER_DAY, rows.sum()))
    candidate = rng.random(len(lead)) < 0.5
    lo, hi = 12 * ea.US_PER_HOUR, 7 * ea.US_PER_DAY
    got = ea.return_marks(lead, us, candidate, lo, hi)
    expected = np.zeros(len(lead), dtype=bool)
    for i in np.flatnonzero(candidate):
        gap = us[i] - us
        expected[i] = np.any(candidate & (lead == lead[i]) & (gap >= lo) & (gap <= hi))
    assert np.array_equal(got, expected)
    assert 0 < got.sum() < candidate.sum()


def test_return_marks_settle_long_bursts_by_the_ranked_search(rng, monkeypatch):
    # one lead with a burst of candidates minutes apart, longer than the step-back limit
    lead = np.array([1] * 40 + [2] * 5, dtype=np.int64)
    minute = 60_000_000
    us = np.concatenate([np.arange(30) * minute, 13 * ea.US_PER_HOUR + np.arange(10) * minute,
                         np.array([0, 1, 2, 3, 4]) * ea.US_PER_DAY])
    candidate = np.ones(len(lead), dtype=bool)
    lo, hi = 12 * ea.US_PER_HOUR, 7 * ea.US_PER_DAY
    expected = np.zeros(len(lead), dtype=bool)
    for i in range(len(lead)):
        gap = us[i] - us
        expected[i] = np.any((lead == lead[i]) & (gap >= lo) & (gap <= hi))
    assert expected[30:40].all() and not expected[:30].any() and not expected[40]
    monkeypatch.setattr(ea, "RETURN_LOOKBACK_STEPS", 3)
    assert np.array_equal(ea.return_marks(lead, us, candidate, lo, hi), expected)
    monkeypatch.setattr(ea, "RETURN_LOOKBACK_STEPS", 64)
    assert np.array_equal(ea.return_marks(lead, us, candidate, lo, hi), expected)


def test_lead_time_order_falls_back_when_key_and_position_need_more_than_63_bits(rng):
    lead = (rng.integers(1, 50, 3_000) + (1 << 55)).astype(np.int64)  # 56 key bits + 12 position bits
    us = rng.integers(0, 200, 3_000).astype(np.int64)
    assert np.array_equal(ea.lead_time_order(lead, us), np.lexsort((np.arange(len(us)), us, lead)))
    assert ea.lead_time_order(lead[:0], us[:0]).tolist() == []
    # 8 rows (4 position bits) and keys of 60 bits: 64 bits, one more than a signed int64 holds
    lead = np.array([(1 << 59) + 1, 1, (1 << 59) + 1, 1, 2, 2, 1, (1 << 59)], dtype=np.int64)
    us = np.array([5, 9, 1, 3, 7, 7, 3, 0], dtype=np.int64)
    assert ea.lead_time_order(lead, us).tolist() == [3, 6, 1, 4, 5, 7, 2, 0]


def test_group_codes_beyond_what_int8_holds():
    """A spec with 200 own types besides the 12 canonical ones: codes up to 212 (`other`)."""
    spec = FeatureSpec(event_types=[*CANONICAL_EVENT_TYPES, *(f"t{i}" for i in range(200))])
    type_names = ["t150", "unmapped", "t199", "page_view"]
    codes = ea.group_codes(np.array([0, 1, 2, 3, 0]), type_names, spec)
    assert codes.tolist() == [12 + 150, 212, 12 + 199, 0, 12 + 150]


def test_first_occurrence_selects_the_first_row_of_each_key():
    keys = np.array([5, 3, 5, 0, 3, 9])
    assert keys[ea.first_occurrence(keys)].tolist() == [5, 3, 0, 9]


@pytest.mark.parametrize("steps", [3, 64])
def test_return_marks_exactly_min_us_apart_and_never_across_leads(monkeypatch, steps):
    """Lead 1: a pricing view, then a burst whose last view is exactly 12 h after it (a return);
    lead 2: a burst starting as lead 1's ends, with no earlier view of its own (no return). With
    3 steps back, both bursts are settled by the ranked search."""
    minute, lo, hi = 60_000_000, 12 * ea.US_PER_HOUR, 7 * ea.US_PER_DAY
    lead = np.array([1] * 5 + [2] * 5, dtype=np.int64)
    us = np.array([0, lo - 3 * minute, lo - 2 * minute, lo - minute, lo, *(lo + k * minute for k in range(5))],
                  dtype=np.int64)
    monkeypatch.setattr(ea, "RETURN_LOOKBACK_STEPS", steps)
    got = ea.return_marks(lead, us, np.ones(len(us), dtype=bool), lo, hi)
    assert got.tolist() == [False] * 4 + [True] + [False] * 5


def test_return_marks_with_no_minimum_gap_and_with_one_row_left_to_settle():
    """`return_min_hours: 0`: an event is not its own earlier view. And a view whose earlier one
    is two steps back while every other row settled after one step."""
    day, hour = ea.US_PER_DAY, ea.US_PER_HOUR
    lead = np.array([1, 1], dtype=np.int64)
    us = np.array([0, 10 * day], dtype=np.int64)  # 10 days apart: too late for a return
    assert ea.return_marks(lead, us, np.ones(2, dtype=bool), 0, 7 * day).tolist() == [False, False]
    lead = np.array([1, 1, 1], dtype=np.int64)
    us = np.array([0, 13 * hour, 13 * hour + 60_000_000], dtype=np.int64)
    assert ea.return_marks(lead, us, np.ones(3, dtype=bool), 12 * hour, 7 * day).tolist() == [False, True, True]


def test_event_arrays_are_built_once_per_loaded_data_and_spec():
    """Keys are 1-based (key 0 has no events); a second spec gets its own arrays."""
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": ["2024-01-01", "2024-01-01"]})
    events = pd.DataFrame({"lead_id": ["b", "b", "b"], "event_type": ["page_view"] * 3,
                           "ts": ["2024-01-10 10:00", "2024-01-10 10:10", "2024-01-10 10:20"]})
    outcomes = pd.DataFrame({"lead_id": ["a"], "stage": ["mql"], "reached_at": ["2024-02-01"]})
    data = load_frames(leads, events, outcomes, clock=pd.Timestamp("2025-01-01", tz="UTC"))
    default, short_gap = FeatureSpec(), FeatureSpec(session_gap_minutes=5)
    arrays = ea.event_arrays(data, default)
    assert ea.event_arrays(data, default) is arrays
    assert arrays.lead_start.tolist() == [0, 0, 0, 3] and arrays.lead_key.tolist() == [2, 2, 2]
    assert ((arrays.marks & ea.SESSION_START) != 0).tolist() == [True, False, False]  # 10-minute gaps
    assert ((ea.event_arrays(data, short_gap).marks & ea.SESSION_START) != 0).tolist() == [True, True, True]
    assert ((ea.event_arrays(data, default).marks & ea.SESSION_START) != 0).sum() == 1
