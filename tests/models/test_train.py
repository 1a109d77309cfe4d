"""Training without MLflow: selection, calibration, thresholds, errors and reproducibility."""

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from leadq.models.candidates import CategoryNormalizer
from leadq.config import PipelineConfig
from leadq.core.errors import BadInputError
from leadq.features.spec import FeatureSpec
from leadq.models.train import choose_threshold, train_models

SPEC = FeatureSpec(
    include_engagement=False,
    numeric_attributes=["visits_30d", "pricing_views", "noise"],
    categorical_attributes=["source"],
)
CONFIG = PipelineConfig(
    features=SPEC, candidates={"hist_gradient_boosting": {"max_iter": 20}, "importance_rows": 300}
)


def make_examples(n_leads: int = 150, n_cutoffs: int = 30, seed: int = 0) -> pd.DataFrame:
    """Weekly snapshots whose labels depend on pricing views, visits and the source."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_cutoffs):
        visits = rng.poisson(3, n_leads).astype(float)
        visits[rng.random(n_leads) < 0.1] = np.nan
        pricing = rng.poisson(1, n_leads).astype(float)
        source = rng.choice(["Google Ads", " google ads", "Referral", "webinar", None],
                            n_leads, p=[0.3, 0.1, 0.3, 0.2, 0.1])
        logit = -2.5 + 0.3 * np.nan_to_num(visits, nan=1) + 0.8 * pricing + 0.7 * (source == "Referral")
        mql = (rng.random(n_leads) < 1 / (1 + np.exp(-logit))).astype(float)
        sql = ((rng.random(n_leads) < 0.5) & (mql == 1)).astype(float)
        mql[rng.random(n_leads) < 0.05] = np.nan  # already an MQL: not an example
        frames.append(pd.DataFrame({
            "lead_id": [f"L{k}_{i}" for i in range(n_leads)],
            "cutoff": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(weeks=k),
            "lead_age_days": rng.uniform(0, 300, n_leads), "visits_30d": visits,
            "pricing_views": pricing, "noise": rng.normal(size=n_leads), "source": source,
            "label_mql": mql, "label_sql": sql,
        }))
    return pd.concat(frames, ignore_index=True)


@lru_cache(maxsize=1)
def trained():
    return train_models(make_examples(), SPEC, CONFIG)


def test_learns_something_and_reports_everything():
    result = trained()
    assert set(result.targets) == {"mql", "sql"}
    for target, tm in result.targets.items():
        assert tm.chosen in {"logistic", "hist_gradient_boosting"}
        assert tm.chosen == min(tm.candidate_log_loss, key=tm.candidate_log_loss.get)
        assert tm.test["roc_auc"] > 0.65, target
        assert 0 < tm.threshold < 1
        assert "pricing_views" in tm.importances.index[:2] and tm.importances.index[0] != "noise"
    metrics = result.metrics()
    for name in ("val_roc_auc_sql", "test_log_loss_mql", "test_ece_sql", "test_lift_top_decile_mql",
                 "val_log_loss_sql_logistic", "threshold_sql"):
        assert name in metrics
    assert result.split.train[-1] + pd.Timedelta(days=30) <= result.split.validation[0]
    assert set(result.test_examples["cutoff"]) == set(result.split.test)
    assert set(result.reference["scores"]) == {"p_mql", "p_sql"}


def test_reproducible_to_1e9_whatever_the_row_order():
    examples = make_examples()
    again = train_models(examples.sample(frac=1.0, random_state=3), SPEC, CONFIG)
    first, second = trained().metrics(), again.metrics()
    assert first.keys() == second.keys()
    for key in first:
        assert first[key] == pytest.approx(second[key], abs=1e-9, nan_ok=True), key


def test_scoring_tolerates_unseen_levels_case_and_missing_values():
    result = trained()
    rows = result.test_examples.head(3).copy()
    base = result.predict(rows)
    assert list(base.columns) == ["p_mql", "p_sql"]
    assert base.to_numpy().min() > 0 and base.to_numpy().max() < 1
    varied = rows.assign(source=["  REFERRAL ", "never seen before", None])
    varied.loc[varied.index[0], "visits_30d"] = np.nan
    scored = result.predict(varied)
    assert np.isfinite(scored.to_numpy()).all()
    referral = result.predict(rows.assign(source="Referral"))
    shouted = result.predict(rows.assign(source=" REFERRAL  "))
    pd.testing.assert_frame_equal(referral, shouted)


def test_category_normalizer():
    out = CategoryNormalizer().fit_transform(pd.DataFrame({"s": ["  Google   Ads", None, "", np.nan]}))
    assert list(out[:, 0]) == ["google ads", "__missing__", "__missing__", "__missing__"]


def test_too_few_positives_names_window_target_and_count():
    examples = make_examples()
    late = examples["cutoff"] >= examples["cutoff"].sort_values().iloc[int(len(examples) * 0.6)]
    examples.loc[late & (examples["label_sql"] == 1), "label_sql"] = 0.0
    with pytest.raises(BadInputError, match=r"too few positives for target 'sql' in the validation window: 0 \(need 20\)"):
        train_models(examples, SPEC, CONFIG)


def test_missing_columns_are_named():
    with pytest.raises(BadInputError, match="pricing_views, label_sql"):
        train_models(make_examples(n_cutoffs=3).drop(columns=["pricing_views", "label_sql"]), SPEC, CONFIG)


def test_choose_threshold_by_hand():
    y = [1, 1, 0, 1, 0, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    # F1 when passing the top k: k=2 -> 0.8, k=4 -> 6/7 (best).
    assert choose_threshold(y, p, "f1") == 0.6
    # Value 10 per conversion, cost 4 per contact: k=2 -> 12, k=4 -> 14 (best), k=1 -> 6.
    assert choose_threshold(y, p, "expected_value", 10, 4) == 0.6
    # Cost 6: k=2 -> 8, k=4 -> 6, so the top two.
    assert choose_threshold(y, p, "expected_value", 10, 6) == 0.8


class _OnlyA:
    """A model whose probability depends on column `a` alone, and records what it was given."""

    def __init__(self):
        self.calls = []

    def predict_proba(self, X):
        self.calls.append(X)
        p = 1 / (1 + np.exp(-X["a"].to_numpy(dtype=float)))
        return np.column_stack([1 - p, p])


def test_permutation_importance_is_the_mean_log_loss_increase_of_shuffling_each_column():
    from sklearn.metrics import log_loss

    from leadq.models.train import permutation_importances

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(0, 2, 300), "b": rng.normal(size=300), "flat": 1.0,
                      "kind": pd.Categorical(rng.choice(["x", "y"], 300))})
    y = (rng.random(300) < 1 / (1 + np.exp(-X["a"]))).astype(int)
    model = _OnlyA()
    got = permutation_importances(model, X, y, rows=200, seed=11, repeats=3)

    # the same sampling and shuffles by hand, one column and one repeat at a time
    draw = np.random.default_rng(11)
    rows = np.sort(draw.choice(300, size=200, replace=False))
    Xs, ys = X.iloc[rows].reset_index(drop=True), y[rows]
    p = 1 / (1 + np.exp(-Xs["a"].to_numpy()))
    base = log_loss(ys, p, labels=[0, 1])
    expected = {}
    for name in ["a", "b", "kind"]:  # `flat` is constant: 0 without a draw
        losses = []
        for _ in range(3):
            order = draw.permutation(200)
            a = Xs["a"].to_numpy()[order] if name == "a" else Xs["a"].to_numpy()
            losses.append(log_loss(ys, 1 / (1 + np.exp(-a)), labels=[0, 1]))
        expected[name] = np.mean(losses) - base
    assert got["a"] == pytest.approx(expected["a"], rel=1e-12) and got["a"] > 0.1
    assert got["b"] == 0.0 and got["kind"] == 0.0 and got["flat"] == 0.0
    assert list(got.index) == ["a", "b", "flat", "kind"]  # largest first, ties in column order
    # the shuffled copies keep the column's type (a category stays a category)
    assert all(isinstance(frame["kind"].dtype, pd.CategoricalDtype) for frame in model.calls)
