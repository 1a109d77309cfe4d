"""Time-ordered split of cutoffs with a gap of at least the horizon between windows."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadq.core.errors import BadInputError
from leadq.features.split import split_cutoffs


def _weekly(n: int, cadence_days: int = 7) -> list[pd.Timestamp]:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return [start + pd.Timedelta(days=cadence_days * i) for i in range(n)]


def test_hand_checked_split():
    cutoffs = _weekly(30)
    split = split_cutoffs(cutoffs, (0.6, 0.2, 0.2), gap_days=30, horizon_days=30)
    # 18 / 6 / 6 by count; then cutoffs less than 30 days before the next window's first
    # cutoff are purged: train keeps c0..c13 (c18 - c13 = 35 days), validation c18..c19.
    assert split.train == cutoffs[:14]
    assert split.validation == cutoffs[18:20]
    assert split.test == cutoffs[24:]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 120),
    cadence=st.integers(1, 14),
    horizon=st.integers(1, 60),
    extra_gap=st.integers(0, 20),
    train=st.floats(0.3, 0.8),
    validation=st.floats(0.05, 0.35),
)
def test_windows_are_ordered_and_gapped(n, cadence, horizon, extra_gap, train, validation):
    test = 1 - train - validation
    cutoffs = _weekly(n, cadence)
    gap = horizon + extra_gap
    try:
        split = split_cutoffs(cutoffs, (train, validation, max(test, 0.0)), gap, horizon)
    except BadInputError as exc:
        assert "history too short" in exc.message and "\n" not in exc.message
        return
    windows = [split.train, split.validation, split.test]
    assert all(w == sorted(w) and len(w) > 0 for w in windows)
    for earlier, later in zip(windows, windows[1:]):
        # No label window (t, t + horizon] of an earlier cutoff reaches into the later window.
        assert later[0] - earlier[-1] >= pd.Timedelta(days=gap)
        assert earlier[-1] + pd.Timedelta(days=horizon) <= later[0]
    used = split.train + split.validation + split.test
    assert len(set(used)) == len(used) and set(used) <= set(cutoffs)


def test_too_short_history_is_one_line():
    with pytest.raises(BadInputError, match=r"history too short: 6 cutoffs .* 30-day gaps"):
        split_cutoffs(_weekly(6), (0.6, 0.2, 0.2), gap_days=30, horizon_days=30)


def test_gap_below_horizon_is_refused():
    with pytest.raises(BadInputError, match="shorter than the 30-day horizon"):
        split_cutoffs(_weekly(50), (0.6, 0.2, 0.2), gap_days=7, horizon_days=30)


def test_window_of_labels_each_cutoff():
    cutoffs = _weekly(30)
    split = split_cutoffs(cutoffs, (0.6, 0.2, 0.2), gap_days=14, horizon_days=14)
    names = split.window_of(pd.Series(cutoffs))
    assert names.iloc[0] == "train" and names.iloc[-1] == "test"
    assert (names == "validation").sum() == len(split.validation)
    assert names.isna().sum() == 30 - len(split.train) - len(split.validation) - len(split.test)
