"""Hand-made facts about a training, for the registry text and registry record tests."""

from leadq.tracking.registry_text import EVENT_TABLES, TrainingFacts


def facts(**changes) -> TrainingFacts:
    """Two targets, a time split, figures written by hand."""
    base = dict(
        model_name="lead-quality", targets=("mql", "sql"), horizon_days=30, input_kind=EVENT_TABLES,
        features="86 features: counts", data_range="2025-01-05 to 2025-03-30",
        data_rows="3 leads, 10 events, 2 outcomes", fingerprint="0123456789abcdef",
        evaluation="time_split", evaluation_window="test window: 4 cutoffs 2025-03-03 to 2025-03-24",
        metrics={"mql": {"roc_auc": 0.81234, "pr_auc": 0.4, "log_loss": 0.25, "brier": 0.07, "ece": 0.01},
                 "sql": {"roc_auc": 0.85809, "pr_auc": 0.27604, "log_loss": 0.09981, "brier": 0.02,
                         "ece": 0.004}},
        chosen={"mql": "logistic", "sql": "hist_gradient_boosting"}, thresholds={"mql": 0.31, "sql": 0.125},
        promotion_metric="test_log_loss_sql", margin=0.001, run_id="abc123",
    )
    return TrainingFacts(**{**base, **changes})
