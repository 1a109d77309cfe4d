"""The leakage audit: hand-computed figures, the stop line, the allow list, generated data passes."""

import numpy as np
import pandas as pd
import pytest

from leadq.models.audit import (
    LeakageError,
    audit_columns,
    check_audit,
    near_pure_share,
    numeric_auc,
    roc_auc,
    run_audit,
)
from leadq.config import AuditConfig
from leadq.core.errors import EXIT_LEAKAGE


def test_roc_auc_by_hand():
    # positives at 0.8 and 0.4, negatives at 0.5 and 0.1: 3 of 4 pairs ordered right.
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.5, 0.4, 0.1])) == 0.75
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 1]), np.array([0.1, 0.2])) == 0.5


def test_numeric_auc_is_folded_and_places_missing_values_where_they_separate():
    y = np.array([1, 1, 0, 0])
    assert numeric_auc([1.0, 2.0, 3.0, 4.0], y) == 1.0  # backwards counts too
    assert numeric_auc([np.nan, np.nan, 1.0, 2.0], y) == 1.0  # missing means converted
    # inf is missing, placed above 1.0: the positive pairs are won once and tied twice: 3/4.
    assert numeric_auc([np.inf, 1.0, 1.0, 1.0], y) == 0.75


def test_near_pure_share_by_hand():
    # base rate 0.5; level a (40 rows, no positives) is near-pure, level b (40 rows, 30
    # positives: 25 % negatives, over 0.1 * 50 %) is not, level c (20 rows, all positive) is
    # near-pure but counts only when 20 rows are enough.
    levels = np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 20)
    y = np.array([0] * 40 + [1] * 30 + [0] * 10 + [1] * 20, dtype=float)
    assert y.mean() == 0.5
    assert near_pure_share(levels, y, min_level_rows=30, purity_ratio=0.1) == pytest.approx(0.4)
    assert near_pure_share(levels, y, min_level_rows=10, purity_ratio=0.1) == pytest.approx(0.6)


def _leaky_frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    status = np.where(y == 1, "Closed - Won", rng.choice(["Ringing", "Not Interested", "No reply"], n))
    frame = pd.DataFrame({
        "Sales Status ": status,  # a sales-entered field: almost the label
        "visits": rng.poisson(3 + y, n).astype(float),
        "origin": rng.choice(["web", "Web ", "ads", None], n),
    })
    return frame, y


def test_a_leaky_column_stops_training_naming_it_and_both_figures():
    frame, y = _leaky_frame()
    table = audit_columns(frame, y, ["visits"], ["Sales Status ", "origin"], AuditConfig(), seed=1, target="won")
    leaky = table.set_index("column").loc["Sales Status "]
    assert leaky["flagged"] and leaky["auc"] > 0.99 and leaky["near_pure_share"] > 0.9
    assert not table.set_index("column").loc[["visits", "origin"], "flagged"].any()
    with pytest.raises(LeakageError) as caught:
        check_audit(table, AuditConfig(), source="export.csv")
    message = caught.value.message
    assert "\n" not in message and message.startswith("export.csv: leakage audit")
    assert "'Sales Status '" in message and "ROC AUC 1.000" in message and "near-pure" in message
    assert "visits" not in message and caught.value.exit_code == EXIT_LEAKAGE


def test_allowed_columns_and_a_disabled_audit_pass():
    frame, y = _leaky_frame()
    examples = frame.assign(label_won=y)
    table = run_audit(examples, ["visits"], ["Sales Status ", "origin"], ["won"],
                      AuditConfig(allow=["Sales Status "]))
    assert table.set_index("column").loc["Sales Status ", "allowed"]
    assert run_audit(examples, ["visits"], ["Sales Status ", "origin"], ["won"],
                     AuditConfig(enabled=False)).empty


def test_audit_samples_at_most_max_rows():
    frame, y = _leaky_frame(n=3000)
    table = audit_columns(frame, y, ["visits"], [], AuditConfig(max_rows=1000))
    assert table["rows"].tolist() == [1000]


def test_generated_data_passes_the_audit_with_the_default_config(trained):
    audit = trained.outcome.result.audit
    assert audit is not None and set(audit["target"]) == {"mql", "sql"}
    assert len(audit) > 50 and not audit["flagged"].any()
    assert audit["auc"].max() < AuditConfig().max_auc
