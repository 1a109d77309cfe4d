"""The drift reference kept with a model describes one scoring date (the test window's last
cutoff), and the test window's predictions are kept for monitoring."""

import numpy as np
import pandas as pd
import pytest

from leadq.config import PipelineConfig
from leadq.features.spec import FeatureSpec
from leadq.models.drift import reference_bins
from leadq.models.train import reference_rows, train_models

SPEC = FeatureSpec(include_engagement=False, numeric_attributes=["pricing_views"],
                   categorical_attributes=[])
CONFIG = PipelineConfig(features=SPEC, candidates={"hist_gradient_boosting": {"max_iter": 20},
                                                   "importance_rows": 300})


def examples(n_leads: int = 500, n_cutoffs: int = 24) -> pd.DataFrame:
    """Weekly snapshots of a pool whose leads age: the later the cutoff, the older the leads."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n_cutoffs):
        age = rng.uniform(0, 30 + 7 * k, n_leads)
        pricing = rng.poisson(1, n_leads).astype(float)
        p = 1 / (1 + np.exp(-(-1.5 + 0.9 * pricing - age / 150)))
        mql = (rng.random(n_leads) < p).astype(float)
        sql = ((rng.random(n_leads) < 0.5) & (mql == 1)).astype(float)
        mql[rng.random(n_leads) < 0.1] = np.nan  # already an MQL: an example for sql only
        frames.append(pd.DataFrame({
            "lead_id": [f"L{i}" for i in range(n_leads)],
            "cutoff": pd.Timestamp("2025-01-06", tz="UTC") + pd.Timedelta(weeks=k),
            "lead_age_days": age, "pricing_views": pricing, "label_mql": mql, "label_sql": sql}))
    return pd.concat(frames, ignore_index=True)


def test_reference_rows_are_the_latest_cutoffs_holding_enough_rows():
    days = pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15"], utc=True)
    frame = pd.DataFrame({"cutoff": np.repeat(days, [600, 500, 400])})
    assert set(reference_rows(frame, 400)["cutoff"]) == {days[2]}
    assert set(reference_rows(frame, 900)["cutoff"]) == {days[1], days[2]}
    assert len(reference_rows(frame, 901)) == 1500


@pytest.fixture(scope="module")
def result():
    return train_models(examples(), SPEC, CONFIG)


def test_reference_is_the_test_windows_last_cutoffs(result):
    """500 leads a cutoff: the last two test cutoffs make the 1,000 rows the reference needs."""
    last_two = result.split.test[-2:]
    reference = result.reference
    assert reference["cutoffs"] == [c.isoformat() for c in last_two] and reference["rows"] == 1000
    rows = result.test_examples[result.test_examples["cutoff"].isin(last_two)]
    ages = reference_bins(rows["lead_age_days"].to_numpy(dtype=float))
    assert reference["features"]["lead_age_days"] == ages
    # the probability's reference covers the leads still open for the target only
    open_for_mql = rows[rows["label_mql"].notna()]
    expected = reference_bins(result.predict(open_for_mql)["p_mql"].to_numpy())
    assert reference["scores"]["p_mql"] == expected
    assert len(open_for_mql) < len(rows)
    # a pool of all training cutoffs (young leads early, old late) would be another population
    pooled = reference_bins(examples()["lead_age_days"].to_numpy(dtype=float))
    assert pooled["edges"][-1] < 0.8 * reference["features"]["lead_age_days"]["edges"][-1]


def test_test_predictions_are_the_test_windows_scores(result):
    frame = result.test_predictions()
    assert list(frame.columns) == ["lead_id", "cutoff", "label_mql", "p_mql", "label_sql", "p_sql"]
    assert len(frame) == len(result.test_examples)
    for target, tm in result.targets.items():
        known = frame[f"label_{target}"].notna()
        np.testing.assert_array_equal(frame.loc[known, f"p_{target}"].to_numpy(), tm.p_test)
        np.testing.assert_array_equal(frame.loc[known, f"label_{target}"].to_numpy(), tm.y_test)
        assert frame.loc[~known, f"p_{target}"].isna().all()
