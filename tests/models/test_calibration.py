"""Probabilities are calibrated, checked directly: on a window whose base rate moved, the mean
score meets the mean outcome, which the uncalibrated model misses by far.

Time-split training calibrates on the validation window, so a base rate that moved between the
training window and the later ones is corrected; cross-validated training calibrates each
fold's scores on the other folds' only.
"""

import numpy as np
import pandas as pd
import pytest

from leadq.config import PipelineConfig
from leadq.features.spec import FeatureSpec
from leadq.models.cross_validation import cross_calibrate, train_cross_validated
from leadq.models.train import train_models

SPEC = FeatureSpec(include_engagement=False, numeric_attributes=["pricing_views", "noise"])
N_CUTOFFS, N_LEADS, REGIME_CHANGE = 40, 150, 24  # cutoffs 24.. (validation and test) convert more


def shifted_examples(seed: int = 0) -> pd.DataFrame:
    """Weekly snapshots whose conversion odds rise by e^2 from the validation window on."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(N_CUTOFFS):
        pricing = rng.poisson(1.0, N_LEADS).astype(float)
        intercept = -3.2 if k < REGIME_CHANGE else -1.2
        p = 1 / (1 + np.exp(-(intercept + 0.9 * pricing)))
        mql = (rng.random(N_LEADS) < p).astype(float)
        frames.append(pd.DataFrame({
            "lead_id": [f"L{k}_{i}" for i in range(N_LEADS)],
            "cutoff": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(weeks=k),
            "lead_age_days": rng.uniform(0, 100, N_LEADS), "pricing_views": pricing,
            "noise": rng.normal(size=N_LEADS), "label_mql": mql,
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_time_split_model_is_calibrated_where_the_base_rate_moved(method):
    config = PipelineConfig(features=SPEC, targets=["mql"], candidates={
        "hist_gradient_boosting": {"enabled": False}, "importance_rows": 100, "calibration": method},
        registry={"promotion_metric": "test_log_loss_mql"})
    result = train_models(shifted_examples(), SPEC, config)
    assert result.split.validation[0] >= pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(weeks=REGIME_CHANGE)
    tm = result.targets["mql"]
    test = result.test_examples
    uncalibrated = tm.model.calibrated_classifiers_[0].estimator.predict_proba(test[SPEC.feature_columns()])[:, 1]
    base_rate = tm.y_test.mean()
    # the model fitted on the old regime is far off; calibrated on validation, it is not
    assert base_rate - uncalibrated.mean() > 0.12
    assert abs(tm.p_test.mean() - base_rate) < 0.03
    assert tm.test["ece"] < 0.04
    # the reported test probabilities are the registered model's
    np.testing.assert_allclose(tm.model.predict_proba(test[SPEC.feature_columns()])[:, 1], tm.p_test)


def _scores_and_labels(n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-1.0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(float)
    scores = 0.4 * true_logit + 2.0  # ranks right, probabilities far too high and too flat
    folds = [(np.setdiff1d(np.arange(n), rows), rows) for rows in np.array_split(rng.permutation(n), 5)]
    return scores, y, folds


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_cross_calibration_meets_the_outcome_rate_per_score_quintile(method):
    scores, y, folds = _scores_and_labels()
    p = cross_calibrate(scores, y, folds, method)
    raw = 1 / (1 + np.exp(-scores))
    quintiles = np.array_split(np.argsort(scores), 5)  # 600 rows each: a rate's sd is about 0.02
    calibrated_gap = max(abs(p[q].mean() - y[q].mean()) for q in quintiles)
    raw_gap = max(abs(raw[q].mean() - y[q].mean()) for q in quintiles)
    assert raw_gap > 0.3 and calibrated_gap < 0.05
    assert abs(p.mean() - y.mean()) < 0.01


def test_no_rows_label_calibrates_its_own_score():
    scores, y, folds = _scores_and_labels()
    p = cross_calibrate(scores, y, folds, "sigmoid")
    _, held_out = folds[2]
    flipped = y.copy()
    flipped[held_out] = 1 - flipped[held_out]
    again = cross_calibrate(scores, flipped, folds, "sigmoid")
    np.testing.assert_array_equal(again[held_out], p[held_out])  # its own labels are not used
    others = np.setdiff1d(np.arange(len(y)), held_out)
    assert np.abs(again[others] - p[others]).max() > 0.01  # but they calibrate the other folds


def test_cross_validated_training_is_calibrated_out_of_fold():
    examples = shifted_examples()
    examples = examples[examples["cutoff"] < pd.Timestamp("2024-03-01", tz="UTC")].drop(columns="cutoff")
    config = PipelineConfig(features=SPEC, targets=["mql"], candidates={
        "hist_gradient_boosting": {"enabled": False}, "importance_rows": 100},
        registry={"promotion_metric": "test_log_loss_mql"})
    result = train_cross_validated(examples, SPEC, config, folds=4)
    tm = result.targets["mql"]
    assert abs(tm.p_test.mean() - tm.y_test.mean()) < 0.01 and tm.test["ece"] < 0.03
    deciles = np.array_split(np.argsort(tm.p_test), 5)
    assert max(abs(tm.p_test[d].mean() - tm.y_test[d].mean()) for d in deciles) < 0.05
