"""Realized metrics of issued scores: hand-computed values, scikit-learn as the reference for
the weighted (resampled) forms, and resampling by lead."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from leadq.monitor.realized import (
    bootstrap_weights, decile_of, measure, routed_at_or_beyond, routed_by_thresholds, weighted_metrics,
)


def test_hand_computed_metrics_of_four_leads():
    # positives at 0.8 and 0.4, negatives at 0.6 and 0.2: 3 of the 4 pairs ordered right
    y = [1, 0, 1, 0]
    p = [0.8, 0.6, 0.4, 0.2]
    routed = [True, True, False, False]
    metrics, _ = measure(y, p, routed, ["a", "b", "c", "d"], n_boot=50)
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive
    assert metrics["brier"] == pytest.approx((0.04 + 0.36 + 0.36 + 0.04) / 4)
    assert metrics["mean_predicted"] == pytest.approx(0.5)
    assert metrics["observed_rate"] == pytest.approx(0.5)
    assert metrics["observed_to_predicted"] == pytest.approx(1.0)
    assert metrics["calibration_in_the_large"] == pytest.approx(0.0)
    assert metrics["precision"] == pytest.approx(0.5) and metrics["recall"] == pytest.approx(0.5)
    assert metrics["n"] == 4 and metrics["positives"] == 2


def test_over_predicted_scores_read_as_half_the_promised_conversions():
    y = np.array([1, 0, 0, 0] * 25)
    p = np.full(100, 0.5)
    metrics, _ = measure(y, p, p > 0.4, np.arange(100), n_boot=200)
    assert metrics["observed_to_predicted"] == pytest.approx(0.5)
    assert metrics["calibration_in_the_large"] == pytest.approx(-0.25)
    assert metrics["observed_to_predicted_lo"] < 0.5 < metrics["observed_to_predicted_hi"] < 1.0


@pytest.mark.parametrize("n", [7, 60, 3000])
def test_weighted_forms_equal_scikit_learn_with_sample_weights(n):
    rng = np.random.default_rng(n)
    p = np.round(rng.random(n), 2)  # many ties
    y = (rng.random(n) < p).astype(float)
    y[:2] = [0, 1]
    weights = rng.integers(0, 4, size=(6, n)).astype(float)
    weights[:, :2] = 1  # both classes present in every row
    got = weighted_metrics(y, p, p > 0.5, weights)
    for i, w in enumerate(weights):
        assert got["roc_auc"][i] == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
        assert got["pr_auc"][i] == pytest.approx(average_precision_score(y, p, sample_weight=w), abs=1e-12)
        assert got["brier"][i] == pytest.approx(brier_score_loss(y, p, sample_weight=w), abs=1e-12)
        routed = p > 0.5
        assert got["precision"][i] == pytest.approx((w * y * routed).sum() / (w * routed).sum())
        assert got["recall"][i] == pytest.approx((w * y * routed).sum() / (w * y).sum())


def test_a_resample_without_a_class_has_no_ranking_metric():
    got = weighted_metrics([1, 0], [0.9, 0.1], [True, False], np.array([[2.0, 0.0], [1.0, 1.0]]))
    assert np.isnan(got["roc_auc"][0]) and np.isnan(got["pr_auc"][0])
    assert got["roc_auc"][1] == 1.0


def test_a_leads_rows_are_drawn_together():
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    blocks = list(bootstrap_weights(groups, 300, seed=1))
    weights = np.vstack(blocks)
    assert weights.shape == (300, 6)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 5]).all()
    assert (weights[:, [0, 2, 3]].sum(axis=1) == 3).all()  # three leads drawn each time


def test_interval_brackets_the_estimate_and_narrows_with_more_leads():
    rng = np.random.default_rng(0)

    def width(n):
        p = rng.random(n) * 0.3
        y = (rng.random(n) < p).astype(float)
        metrics, _ = measure(y, p, p > 0.2, np.arange(n), n_boot=300, seed=2)
        assert metrics["roc_auc_lo"] < metrics["roc_auc"] < metrics["roc_auc_hi"]
        return metrics["roc_auc_hi"] - metrics["roc_auc_lo"]

    assert width(20_000) < 0.5 * width(1_000)


def test_deciles_of_scores():
    p = np.linspace(0.01, 0.2, 200)
    y = (np.arange(200) % 10 == 0).astype(float)
    _, table = measure(y, p, p > 0.1, np.arange(200), n_boot=100)
    assert list(table["decile"]) == list(range(1, 11)) and table["n"].sum() == 200
    assert table["mean_predicted"].is_monotonic_increasing
    assert table["observed_rate"].to_numpy() == pytest.approx([0.1] * 10)
    assert (decile_of(p[::-1]) == decile_of(p)[::-1]).all()


def test_routing_at_or_beyond_a_stage():
    stages = pd.Series(["SQL", "MQL", "nurture", "sql"])
    assert routed_at_or_beyond(stages, "mql", ["mql", "sql"]).tolist() == [True, True, False, True]
    assert routed_at_or_beyond(stages, "sql", ["mql", "sql"]).tolist() == [True, False, False, True]
    frame = pd.DataFrame({"p_mql": [0.5, 0.1, 0.1], "p_sql": [0.1, 0.4, 0.1]})
    thresholds = {"mql": 0.3, "sql": 0.3}
    assert routed_by_thresholds(frame, "mql", ["mql", "sql"], thresholds).tolist() == [True, True, False]
    assert routed_by_thresholds(frame, "sql", ["mql", "sql"], thresholds).tolist() == [False, True, False]
