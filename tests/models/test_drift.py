"""Population stability index against a binned training reference."""

import numpy as np
import pytest

from leadq.models.drift import population_stability_index, reference_bins


def test_same_distribution_is_stable():
    rng = np.random.default_rng(0)
    reference = reference_bins(rng.normal(size=20000))
    assert population_stability_index(reference, rng.normal(size=20000)) < 0.01


def test_shifted_distribution_is_flagged():
    rng = np.random.default_rng(1)
    reference = reference_bins(rng.normal(size=20000))
    assert population_stability_index(reference, rng.normal(loc=1.0, size=20000)) > 0.2


def test_hand_checked_psi_with_missing_bin():
    reference = {"edges": [1.0], "shares": [0.5, 0.5, 0.0]}
    values = np.array([0.0, 0.0, 0.0, 2.0])  # 75 % low, 25 % high, none missing
    expected = (0.75 - 0.5) * np.log(0.75 / 0.5) + (0.25 - 0.5) * np.log(0.25 / 0.5)
    assert population_stability_index(reference, values) == pytest.approx(expected)


def test_reference_of_counts_with_ties():
    reference = reference_bins(np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, np.nan]))
    assert reference["edges"] == sorted(set(reference["edges"]))
    assert sum(reference["shares"]) == pytest.approx(1.0)
    assert reference["shares"][-1] == pytest.approx(0.1)
