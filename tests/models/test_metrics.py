"""Metrics against hand-computed values."""

import math

import numpy as np
import pytest

from leadq.models.metrics import (
    binary_metrics,
    calibration_slope_intercept,
    expected_calibration_error,
    lower_is_better,
    top_decile,
)

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_ranking_and_probability_metrics_by_hand():
    m = binary_metrics(Y, P)
    # 4 positive-negative pairs, 3 ordered correctly.
    assert m["roc_auc"] == pytest.approx(0.75)
    # Ranked 0.8(+) 0.4(-) 0.35(+) 0.1(-): precision 1 at recall 1/2, 2/3 at recall 1.
    assert m["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m["brier"] == pytest.approx((0.1**2 + 0.4**2 + 0.65**2 + 0.2**2) / 4)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4)
    assert m["base_rate"] == 0.5 and m["n"] == 4 and m["positives"] == 2


def test_ece_equal_frequency_bins_by_hand():
    # Two bins of two by score: {0.1 (0), 0.35 (1)} and {0.4 (0), 0.8 (1)}.
    expected = 0.5 * abs(0.5 - 0.225) + 0.5 * abs(0.5 - 0.6)
    assert expected_calibration_error(Y, P, n_bins=2) == pytest.approx(expected)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_top_decile_by_hand():
    y = np.array([1, 0] + [0] * 15 + [1, 1, 1])
    p = np.linspace(1, 0, 20)  # first two rows score highest
    out = top_decile(y, p)
    # Top 10 % = 2 rows, 1 positive; 4 positives overall; base rate 0.2.
    assert out["precision_top_decile"] == pytest.approx(0.5)
    assert out["capture_top_decile"] == pytest.approx(0.25)
    assert out["lift_top_decile"] == pytest.approx(2.5)


def test_calibration_slope_and_intercept_by_hand():
    # Two groups at logit(p) = -1 and +1 with observed rates 1/4 and 3/4: the fitted line goes
    # through both points, so slope = (logit(3/4) - logit(1/4)) / 2 = ln 3 and intercept 0.
    p = [1 / (1 + math.e)] * 4 + [1 / (1 + math.exp(-1))] * 4
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(math.log(3), abs=1e-8)
    assert intercept == pytest.approx(0.0, abs=1e-8)


def test_calibrated_scores_have_slope_one():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.98, 200_000)
    y = (rng.random(p.size) < p).astype(float)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.02) and intercept == pytest.approx(0.0, abs=0.02)
    assert expected_calibration_error(y, p) < 0.01


def test_single_class_and_oracle():
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["calibration_slope"])
    m = binary_metrics(Y, P, oracle_score=[0.2, 0.1, 0.7, np.nan])
    assert m["oracle_roc_auc"] == pytest.approx(1.0)  # scored on the three known rows


def test_metric_direction():
    assert lower_is_better("test_log_loss_sql") and lower_is_better("brier")
    assert not lower_is_better("test_roc_auc_sql") and not lower_is_better("lift_top_decile")
