"""Learned scorecards: the fit's pieces by hand, then `leadq rules learn` on generated data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadq.cli import app
from leadq.config import parse_config
from leadq.rules.learned import (
    NEGATIVE_EVENT_TYPES,
    RuleInput,
    _fit_l1,
    build_scorecard,
    design_matrix,
    fit_learned_scorecard,
    integer_points,
    label_windows,
)
from leadq.data.load import load_data
from leadq.rules.scorecard import Thresholds, load_scorecard, score_examples

RULES = Path(__file__).resolve().parents[2] / "pipelines" / "rules" / "default.yaml"
SMALL = {"snapshots": {"leads_per_cutoff": 300}}


def test_integer_points_scale_the_largest_weight():
    points = integer_points(np.array([0.5, -0.1, 0.02, 0.0]), max_points=30)
    assert points.tolist() == [30.0, -6.0, 1.0, 0.0]
    assert str(integer_points(np.array([1.0, -0.001]), 30)[1]) == "0.0"  # no "-0.0" in YAML


def test_wrongly_signed_inputs_are_dropped_and_refitted():
    rng = np.random.default_rng(0)
    n = 4000
    good = rng.poisson(1.0, n).astype(float)
    bad = rng.poisson(1.0, n).astype(float)  # constrained positive, but its effect is negative
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 0.8 * good - 0.8 * bad)))).astype(float)
    coef, _, dropped = _fit_l1(np.column_stack([good, bad]), y, np.array([1.0, 1.0]), C=1.0, seed=0)
    assert dropped == [1]
    assert coef[0] > 0 and coef[1] == 0
    free, _, none_dropped = _fit_l1(np.column_stack([good, bad]), y, np.array([1.0, 0.0]), C=1.0, seed=0)
    assert none_dropped == [] and free[1] < 0


def test_build_scorecard_expresses_each_input_kind():
    inputs = [
        RuleInput("pricing_view events", "event", "pricing_view", sign=1, cap_count=3.0),
        RuleInput("careers_view events", "event", "careers_view", sign=-1, cap_count=2.0),
        RuleInput("no activity for 30 days", "inactivity", "30.0", sign=-1),
        RuleInput("source = referral", "equals", "source", value="referral"),
        RuleInput("job_title has 'vp'", "contains", "job_title", value="vp"),
        RuleInput("company_size in [None, 50)", "band", "company_size", low=None, high=50.0),
        RuleInput("company_size in [50, None)", "band", "company_size", low=50.0, high=None),
        RuleInput("unused", "equals", "source", value="organic"),
    ]
    card = build_scorecard(inputs, np.array([10, -15, -5, 20, 8, -3, 4, 0]), 60.0,
                           Thresholds(mql=20, sql=40), "learned")
    assert card.events["pricing_view"].points == 10 and card.events["pricing_view"].cap == 30
    assert card.events["careers_view"].points == -15 and card.events["careers_view"].cap == 30
    assert card.inactivity.days == 30 and card.inactivity.points == -5
    assert card.decay_half_life_days == 60
    columns = [(a.column, a.equals, a.contains_any, a.bands) for a in card.attributes]
    assert ("source", ["referral"], None, None) in columns
    assert ("job_title", None, ["vp"], None) in columns
    bands = next(a.bands for a in card.attributes if a.bands)
    assert [(b.min, b.max, b.points) for b in bands] == [(None, 50.0, -3), (50.0, None, 4)]
    assert all(a.equals != ["organic"] for a in card.attributes)  # 0 points: left out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from leadq.steps.generate import generate_to_dir

    root = tmp_path_factory.mktemp("learn")
    generate_to_dir(root / "data", n_leads=3000, seed=1)
    config = parse_config({**SMALL, "data": {"dir": str(root / "data")}})
    (root / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["rules", "learn", "--config", str(root / "config.yaml"),
                                      "--rules", str(RULES), "--out", str(root / "learned.yaml")])
    return {"root": root, "config": config, "cli": result}


@pytest.mark.slow
def test_cli_writes_a_scorecard_that_loads_and_scores(small):
    assert small["cli"].exit_code == 0, small["cli"].output
    assert "learned scorecard for 'sql'" in small["cli"].output
    card = load_scorecard(small["root"] / "learned.yaml")
    assert card.thresholds.sql >= card.thresholds.mql
    assert card.events, "engagement must earn points"
    data = load_data(small["root"] / "data")
    keys = pd.DataFrame({"lead_id": ["L0000001", "L0000002", "L0000003"],
                         "cutoff": pd.Timestamp("2026-03-01", tz="UTC")})
    scored = score_examples(data, card, keys)
    assert scored["points"].dtype.kind == "i"
    points = scored["points"].to_numpy()
    expected = np.where(points >= card.thresholds.sql, "SQL", np.where(points >= card.thresholds.mql, "MQL", "nurture"))
    assert scored["rules_stage"].tolist() == expected.tolist()


@pytest.mark.slow
def test_points_are_whole_and_signed_by_common_sense(small):
    card = load_scorecard(small["root"] / "learned.yaml")
    for name, rule in card.events.items():
        assert float(rule.points).is_integer()
        assert (rule.points < 0) if name in NEGATIVE_EVENT_TYPES else (rule.points > 0), name
        assert rule.cap is not None and rule.cap > 0
    if card.inactivity is not None:
        assert card.inactivity.points < 0
    largest = max([abs(r.points) for r in card.events.values()]
                  + [abs(a.points or 0) for a in card.attributes]
                  + [abs(b.points) for a in card.attributes for b in (a.bands or [])])
    assert largest == 30


@pytest.mark.slow
def test_scorecard_points_equal_the_fitted_inputs(small):
    """What the fit saw (inputs x points) is what the scorecard scores, to rounding."""
    data = load_data(small["root"] / "data")
    labelled, _ = label_windows(data, small["config"])
    learned = fit_learned_scorecard(data, labelled, small["config"], reference=load_scorecard(RULES))
    rows = labelled[labelled["window"] == "validation"].head(400).reset_index(drop=True)
    scored = score_examples(data, learned.scorecard, rows)["points"].to_numpy()
    assert learned.validation["val_roc_auc_points"] > 0.6
    assert abs(learned.validation["val_roc_auc_points"] - learned.validation["val_roc_auc_fit"]) < 0.03
    # Rebuild the design from the weight table and compare.
    from leadq.rules.learned import candidate_inputs

    train = labelled[(labelled["window"] == "train") & labelled["label_sql"].notna()]
    inputs, half_life = candidate_inputs(data, train.reset_index(drop=True), small["config"],
                                         load_scorecard(RULES))
    X = design_matrix(data, rows, inputs, half_life)
    assert [i.name for i in inputs] == learned.weights["input"].tolist()
    expected = X @ learned.weights["points"].to_numpy()
    assert np.abs(np.round(expected) - scored).max() <= 1


@pytest.mark.slow
def test_test_labels_do_not_change_the_scorecard(small, tmp_path):
    """Scrambling outcomes after the validation window leaves points and thresholds alone."""
    import shutil

    data = load_data(small["root"] / "data")
    _, split = label_windows(data, small["config"])
    corrupted = tmp_path / "data"
    shutil.copytree(small["root"] / "data", corrupted)
    outcomes = pd.read_parquet(corrupted / "outcomes.parquet")
    late = pd.to_datetime(outcomes["reached_at"], utc=True) > split.test[0]
    outcomes.loc[late, "lead_id"] = np.random.default_rng(0).permutation(
        outcomes.loc[late, "lead_id"].to_numpy())
    outcomes.to_parquet(corrupted / "outcomes.parquet", index=False)
    result = CliRunner().invoke(app, ["rules", "learn", "--data", str(corrupted), "--config",
                                      str(small["root"] / "config.yaml"), "--rules", str(RULES),
                                      "--out", str(tmp_path / "learned.yaml")])
    assert result.exit_code == 0, result.output
    assert load_scorecard(tmp_path / "learned.yaml") == load_scorecard(small["root"] / "learned.yaml")


@pytest.mark.slow
def test_unknown_target_is_a_one_line_error(small, tmp_path):
    result = CliRunner().invoke(app, ["rules", "learn", "--config", str(small["root"] / "config.yaml"),
                                      "--target", "customer", "--out", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert "'customer' is not one of the config's targets" in result.output
    assert not (tmp_path / "x.yaml").exists()
