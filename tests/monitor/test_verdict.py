"""Flags per scoring run and the verdict per model version, on hand-made monitoring rows."""

import pandas as pd
import pytest

from leadq.config import MonitorConfig
from leadq.monitor.verdict import flag_targets, run_status, version_verdicts

CONFIG = MonitorConfig(calibration_tolerance=0.2, psi_limit=0.25, psi_runs=3)


def row(day: int, target: str = "sql", auc=(0.80, 0.77, 0.83), ratio=(1.0, 0.85, 1.15), psi=0.05,
        pending=False, features=0.05):
    return {"model_name": "m", "model_version": "1", "as_of": pd.Timestamp("2026-05-01", tz="UTC") + pd.Timedelta(weeks=day),
            "target": target, "pending": pending,
            "roc_auc": auc[0], "roc_auc_lo": auc[1], "roc_auc_hi": auc[2],
            "test_roc_auc": 0.82, "test_roc_auc_lo": 0.80, "test_roc_auc_hi": 0.84,
            "observed_to_predicted": ratio[0], "observed_to_predicted_lo": ratio[1],
            "observed_to_predicted_hi": ratio[2], "psi_score": psi,
            "psi_features_max": features, "psi_features_top": "pricing_view_30d"}


def judge(rows, config=CONFIG):
    flagged = flag_targets(pd.DataFrame(rows), config)
    runs = run_status(flagged, config)
    return flagged, runs, version_verdicts(runs, config).iloc[0]


def test_ranking_below_the_test_interval_means_retrain():
    flagged, runs, verdict = judge([row(0), row(1, auc=(0.74, 0.71, 0.79))])
    assert runs["status"].tolist() == ["ok", "retrain"]
    assert verdict["verdict"] == "retrain" and "below the test window's [0.800, 0.840]" in verdict["reason"]


def test_overlapping_intervals_are_not_a_drop():
    _, runs, verdict = judge([row(0, auc=(0.76, 0.72, 0.80))])  # upper end touches the test's lower end
    assert runs["status"].tolist() == ["ok"] and verdict["verdict"] == "ok"


def test_calibration_off_with_ranking_held_means_recalibrate():
    _, runs, verdict = judge([row(0, ratio=(0.45, 0.38, 0.52)), row(0, "mql")])
    assert runs["status"].tolist() == ["recalibrate"]
    assert verdict["verdict"] == "recalibrate" and "observed / predicted 0.450" in verdict["reason"]


@pytest.mark.parametrize("ratio, off", [((0.75, 0.70, 0.81), False), ((0.72, 0.65, 0.79), True),
                                        ((1.3, 1.21, 1.4), True), ((1.3, 1.19, 1.4), False)])
def test_calibration_is_off_only_when_the_whole_interval_is_outside_the_tolerance(ratio, off):
    flagged, _, _ = judge([row(0, ratio=ratio)])
    assert bool(flagged["calibration_off"].iloc[0]) is off


def test_the_latest_evaluated_run_decides():
    _, _, verdict = judge([row(0, auc=(0.70, 0.66, 0.74)), row(1), row(2, pending=True, auc=(None,) * 3)])
    assert verdict["verdict"] == "ok" and verdict["latest_as_of"] == pd.Timestamp("2026-05-08", tz="UTC")
    assert (verdict["evaluated"], verdict["pending"]) == (2, 1)


def test_drift_for_psi_runs_in_a_row_means_retrain_and_pending_runs_count():
    rows = [row(0), row(1, psi=0.3), row(2, psi=0.4), row(3, psi=0.5, pending=True, auc=(None,) * 3)]
    _, runs, verdict = judge(rows)
    assert runs["drifted"].tolist() == [False, True, True, True]
    assert runs["status"].tolist() == ["ok", "ok", "ok", "pending"]
    assert verdict["verdict"] == "retrain" and verdict["drifted_in_a_row"] == 3
    assert "since 2026-05-08" in verdict["reason"]
    _, _, broken = judge([row(0, psi=0.3), row(1, psi=0.3), row(2, psi=0.1)])
    assert broken["verdict"] == "ok" and broken["drifted_in_a_row"] == 0


def test_feature_drift_counts_only_when_asked():
    rows = [row(k, features=0.9) for k in range(3)]
    assert judge(rows)[2]["verdict"] == "ok"
    config = CONFIG.model_copy(update={"psi_features": True})
    _, runs, verdict = judge(rows, config)
    assert verdict["verdict"] == "retrain" and runs["psi_of"].iloc[0] == "pricing_view_30d"


def test_only_pending_runs():
    _, runs, verdict = judge([row(0, pending=True, auc=(None,) * 3)])
    assert runs["status"].tolist() == ["pending"]
    assert verdict["verdict"] == "ok" and pd.isna(verdict["latest_as_of"])
    assert "no scoring run has its outcomes yet" in verdict["reason"]
