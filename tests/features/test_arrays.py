"""The array helpers behind the in-process feature engine, against plain reference computations.

Each helper has a fast path (packed 64-bit sorts, a direct-mapped code table) and a general
fallback; both must give the reference answer.
"""

import numpy as np
import pytest

from leadq.features import arrays as ea


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
