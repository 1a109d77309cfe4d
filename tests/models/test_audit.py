"""The leakage audit: hand-computed figures, the stop line, the allow list, generated data passes."""

import numpy as np
import pandas as pd
import pytest

from leadq.models.audit import (
    LeakageError,
    audit_columns,
    check_audit,
    near_pure_share,
    out_of_fold_rates,
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


@pytest.mark.slow
def test_generated_data_passes_the_audit_with_the_default_config(trained):
    audit = trained.outcome.result.audit
    assert audit is not None and set(audit["target"]) == {"mql", "sql"}
    assert len(audit) > 50 and not audit["flagged"].any()
    assert audit["auc"].max() < AuditConfig().max_auc


# --- the stop, end to end, on generated data with a column written after the outcome -------------


def _with_crm_status(tables: dict, seed: int = 0) -> pd.DataFrame:
    """The leads with a `crm_status` the CRM sets once the deal is decided: "Closed - Won" for
    every lead that reaches SQL, one of three open statuses for the others."""
    rng = np.random.default_rng(seed)
    leads, outcomes = tables["leads"], tables["outcomes"]
    won = leads["lead_id"].isin(outcomes.loc[outcomes["stage"] == "sql", "lead_id"]).to_numpy()
    return leads.assign(crm_status=np.where(won, "Closed - Won",
                                            rng.choice(["Open", "Nurturing", "Not Interested"], len(leads))))


def _runner_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_leaky_attribute_stops_snapshot_training_before_anything_is_written(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from leadq.data import synth
    from leadq.cli import app

    tables = synth.generate(n_leads=1500, seed=3)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tables["leads"] = _with_crm_status(tables)
    for name in ("leads", "events", "outcomes"):
        tables[name].to_parquet(data_dir / f"{name}.parquet")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"snapshots": {"leads_per_cutoff": 300}}))
    store = tmp_path / "store" / "mlflow.db"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data_dir),
                                      "--tracking-uri", f"sqlite:///{store}"])
    assert result.exit_code == EXIT_LEAKAGE, result.output
    lines = _runner_lines(result)
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    line = lines[0]
    assert line.startswith("error: training window: leakage audit stopped training: 'crm_status'")
    near_pure = float(line.split(" alone, ", 1)[1].split("%")[0]) / 100
    assert near_pure > AuditConfig().max_near_pure_share and " ROC AUC " in line
    # only the leaky column is named; nothing was logged or registered
    assert "'industry'" not in line and "'source'" not in line
    assert not store.parent.exists() and not (tmp_path / "mlruns").exists()


def test_leaky_column_stops_lead_table_training(tmp_path):
    """The lead-level (cross-validated) path audits too, naming the export and the column."""
    import yaml
    from typer.testing import CliRunner

    from leadq.data import synth
    from leadq.cli import app

    tables = synth.generate(n_leads=1200, seed=4)
    leads = _with_crm_status(tables, seed=1).drop(columns=["created_at"])
    counts = tables["events"].groupby("lead_id").size().rename("Total Visits")
    export = leads.set_index("lead_id").join(counts).fillna({"Total Visits": 0})
    export["Converted"] = (export["crm_status"] == "Closed - Won").astype(int)
    path = tmp_path / "export.csv"
    export.reset_index().rename(columns={"lead_id": "Lead ID", "crm_status": "Sales Status"}).to_csv(path, index=False)
    config = tmp_path / "leads.yaml"
    config.write_text(yaml.safe_dump({
        "lead_table": {"path": str(path), "id_column": "Lead ID", "label_column": "Converted", "cv_folds": 3},
        "targets": ["converted"],
        "registry": {"model_name": "leaky", "promotion_metric": "test_log_loss_converted"},
    }))
    store = tmp_path / "store" / "mlflow.db"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--tracking-uri", f"sqlite:///{store}"])
    assert result.exit_code == EXIT_LEAKAGE, result.output
    lines = _runner_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: leakage audit stopped training: 'Sales Status'")
    assert "ROC AUC 1.000" in lines[0] and "'Total Visits'" not in lines[0]
    assert not store.parent.exists()


# --- the figures by hand, at their boundaries (each pins a line a user's stop/pass depends on) -------


def test_roc_auc_with_unequal_classes_and_a_tie_by_hand():
    # positives at 0.9 and 0.5, negatives at 0.9, 0.3, 0.1: of the 6 pairs, 4 are ordered right
    # and one (0.9 vs 0.9) is tied, counting one half: 4.5 / 6.
    assert roc_auc([1, 0, 0, 1, 0], [0.9, 0.9, 0.1, 0.5, 0.3]) == 0.75
    # one positive above two negatives, below one: 2 / 3; the labels may be given as floats
    assert roc_auc(np.array([0.0, 1.0, 0.0, 0.0]), np.array([3.0, 2.0, 1.0, 0.0])) == pytest.approx(2 / 3)
    assert roc_auc([0, 0, 0], [0.1, 0.2, 0.3]) == 0.5  # no positive
    assert roc_auc([0, 1], [0.2, 0.1]) == 0.0  # not folded here


def test_missing_values_go_to_whichever_end_separates_more():
    y = [0, 0, 1, 1]
    # missing with the lowest values: negatives {missing, 1}, positives {1.5, 5}: all 4 pairs right.
    # (At the top it would be 2 of 4; placed at 2 or 4 instead, 3 of 4.)
    assert numeric_auc([np.nan, 1.0, 1.5, 5.0], y) == 1.0
    # the mirror: missing above every value separates the negatives {missing, -1} completely.
    assert numeric_auc([np.nan, -1.0, -1.5, -5.0], y) == 1.0
    assert numeric_auc([1.0, 2.0, np.nan, 5.0], y) == 1.0  # a missing positive, at the top
    assert numeric_auc([np.nan, None, np.nan, np.nan], y) == 0.5  # nothing to rank
    assert numeric_auc(["1", "x", "3", "4"], y) == 1.0  # text that is no number is missing


def test_near_pure_share_counts_levels_exactly_at_both_limits():
    # base rate 1/2, purity ratio 1/4: a level is near-pure with at most 1/8 positives or at most
    # 1/8 negatives. a: 40 rows, 5 positives (exactly 1/8); b: 40 rows, 5 negatives; c: 40 rows,
    # 6 positives (just over); d and e: exactly 30 rows, all negative / all positive; f and g: 29
    # rows, all negative / all positive; h: half and half; i: 28 positives making the base rate 1/2;
    # j and k: 40 rows, 1/4 negatives / 1/4 positives (twice the limit: not near-pure).
    counts = {"a": (40, 5), "b": (40, 35), "c": (40, 6), "d": (30, 0), "e": (30, 30), "f": (29, 0),
              "g": (29, 29), "h": (40, 20), "i": (28, 28), "j": (40, 30), "k": (40, 10)}
    levels = np.concatenate([[k] * n for k, (n, _) in counts.items()])
    y = np.concatenate([[1.0] * p + [0.0] * (n - p) for n, p in counts.values()])
    assert y.mean() == 0.5 and len(y) == 386
    assert near_pure_share(levels, y, min_level_rows=30, purity_ratio=0.25) == (40 + 40 + 30 + 30) / 386
    assert near_pure_share(levels, y, min_level_rows=29, purity_ratio=0.25) == (40 + 40 + 30 + 30 + 29 + 29) / 386
    assert near_pure_share(np.array([], dtype=object), np.array([])) == 0.0


def test_near_pure_share_defaults_are_30_rows_and_a_tenth_of_the_base_rate():
    # base rate 1/2: a level of 30 rows with 1 positive (1/30 <= 1/20) is near-pure; one of 29
    # rows with no positive is too small; one of 40 rows with 3 positives (3/40 > 1/20) is not,
    # nor one of 60 rows with 50; the remaining 51 positives are in levels of 10 rows or fewer.
    levels = np.array(["a"] * 30 + ["b"] * 29 + ["c"] * 40 + ["d"] * 60 + [f"s{i // 10}" for i in range(51)])
    y = np.array([1.0] + [0.0] * 29 + [0.0] * 29 + [1.0] * 3 + [0.0] * 37 + [1.0] * 50 + [0.0] * 10 + [1.0] * 51)
    assert y.mean() == 0.5
    assert near_pure_share(levels, y) == 30 / 210


def _reference_out_of_fold_rates(levels, y, seed, folds):
    """The encoding written out plainly: per scored row, (positives + base) / (rows + 1) of its
    level among the other folds' rows, the folds those of a seeded, shuffled StratifiedKFold."""
    from sklearn.model_selection import StratifiedKFold

    y = [float(v) for v in y]
    out = [None] * len(y)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, score_rows in splitter.split(np.zeros((len(y), 1)), y):
        base = sum(y[i] for i in fit_rows) / len(fit_rows)
        for i in score_rows:
            same = [j for j in fit_rows if levels[j] == levels[i]]
            out[i] = (sum(y[j] for j in same) + base) / (len(same) + 1)
    return np.array(out)


def test_out_of_fold_rates_match_the_encoding_written_out():
    rng = np.random.default_rng(5)
    levels = rng.choice(["a", "b", "c", "rare"], 60, p=[0.4, 0.3, 0.28, 0.02])
    y = (rng.random(60) < np.where(levels == "a", 0.7, 0.2)).astype(float)
    np.testing.assert_allclose(out_of_fold_rates(levels, y, seed=2),
                               _reference_out_of_fold_rates(levels, y, 2, folds=5))
    # three positives: three folds at most
    y3 = np.zeros(60)
    y3[[1, 20, 40]] = 1.0
    np.testing.assert_allclose(out_of_fold_rates(levels, y3, seed=0),
                               _reference_out_of_fold_rates(levels, y3, 0, folds=3))


def test_out_of_fold_rates_are_the_base_rate_when_a_class_has_under_two_rows():
    levels = np.array(["a", "a", "b", "b"])
    assert out_of_fold_rates(levels, np.array([1.0, 0.0, 0.0, 0.0]), seed=0).tolist() == [0.25] * 4
    assert out_of_fold_rates(levels, np.ones(4), seed=0).tolist() == [1.0] * 4
    assert out_of_fold_rates(np.array([]), np.array([]), seed=0).tolist() == []


def test_the_audit_table_by_hand_columns_order_limits_and_allow_list():
    from sklearn.metrics import roc_auc_score

    y = np.array([0.0, 0.0, 1.0, 1.0] * 10)
    frame = pd.DataFrame({
        "b_copy": [1.0, 2.0, 3.0, 1.5] * 10,  # positives {3, 1.5} against {1, 2}: 3 pairs of 4
        "a_copy": [1.0, 2.0, 3.0, 1.5] * 10,  # the same figures: ties are ordered by name
        "perfect": [0.0, 1.0, 2.0, 3.0] * 10,
        "origin": ["Web", "ADS", " web", None] * 10,  # 3 levels once normalised: web, ads, missing
    })
    config = AuditConfig(max_auc=0.75, max_near_pure_share=0.5, allow=["perfect", "origin"], min_level_rows=5)
    table = audit_columns(frame, y, ["b_copy", "a_copy", "perfect"], ["origin"], config, seed=0, target="won")
    assert list(table.columns) == ["target", "column", "kind", "rows", "auc", "near_pure_share", "levels",
                                   "flagged", "allowed"]
    assert roc_auc_score(y, frame["a_copy"]) == 0.75
    origin = roc_auc_score(y, _reference_out_of_fold_rates(["web", "ads", "web", "?"] * 10, y, 0, folds=5))
    assert 0.75 < max(origin, 1 - origin) < 1
    assert table["column"].tolist() == ["perfect", "origin", "a_copy", "b_copy"]
    assert table["auc"].tolist() == [1.0, pytest.approx(max(origin, 1 - origin)), 0.75, 0.75]
    assert table["target"].tolist() == ["won"] * 4 and table["rows"].tolist() == [40] * 4
    assert table["kind"].tolist() == ["numeric", "categorical", "numeric", "numeric"]
    assert table["levels"].tolist() == [4, 3, 4, 4]
    # origin: "ads" (10 rows, all negative) and missing (10 rows, all positive) are near-pure
    assert table["near_pure_share"].iloc[1] == 0.5 and table["near_pure_share"].iloc[[0, 2, 3]].isna().all()
    # at the AUC limit exactly a column is not flagged; over it, it is, allowed or not
    assert table["flagged"].tolist() == [True, True, False, False]
    assert table["allowed"].tolist() == [True, True, False, False]
    check_audit(table, config)  # the only flagged columns are allowed
    stricter = audit_columns(frame, y, ["a_copy"], [], config.model_copy(update={"max_auc": 0.7499}))
    assert stricter["flagged"].tolist() == [True] and stricter["target"].tolist() == [""]
    # the near-pure share limit likewise: at it, not flagged; over it, flagged
    shares = [audit_columns(frame, y, [], ["origin"], AuditConfig(max_auc=0.99, max_near_pure_share=limit,
                                                                  min_level_rows=10))["flagged"].iloc[0]
              for limit in (0.5, 0.4999)]
    assert shares == [False, True]


def test_the_stop_line_in_full():
    table = pd.DataFrame({
        "target": ["mql", "sql", "mql", "sql"], "column": ["status", "status", "visits", "note"],
        "kind": ["categorical", "categorical", "numeric", "categorical"], "rows": [100] * 4,
        "auc": [0.9876, 0.99, 0.9512, 0.6], "near_pure_share": [0.456, 0.5, np.nan, 0.1],
        "levels": [3, 3, 50, 2], "flagged": [True, True, True, False], "allowed": [False, False, False, False],
    })
    with pytest.raises(LeakageError) as caught:
        check_audit(table, AuditConfig(max_auc=0.95, max_near_pure_share=0.25))
    assert caught.value.message == (
        "leakage audit stopped training: 'status' for 'mql': ROC AUC 0.988 alone, 46% of rows in "
        "near-pure levels; 'visits' for 'mql': ROC AUC 0.951 alone, n/a (numeric) of rows in near-pure "
        "levels (limits: AUC 0.95, near-pure share 25%); these columns predict the label almost alone, "
        "so they are probably written after the outcome: exclude them, or list them under audit.allow")
    without_target = table.assign(target="")
    with pytest.raises(LeakageError) as caught:
        check_audit(without_target, source="leads.csv")
    assert caught.value.message.startswith(
        "leads.csv: leakage audit stopped training: 'status': ROC AUC 0.988 alone, 46% of rows")
    assert "(limits: AUC 0.90, near-pure share 30%)" in caught.value.message
    check_audit(table.assign(flagged=False))
    check_audit(table.assign(allowed=True))


def test_audit_examples_uses_the_labelled_rows_of_each_target():
    y = np.array([0.0, 0.0, 1.0, 1.0] * 10)
    examples = pd.DataFrame({"visits": [0.0, 1.0, 2.0, 3.0] * 10, "label_mql": y,
                             "label_sql": np.where(np.arange(40) < 30, y, np.nan)})
    table = run_audit(examples, ["visits"], [], ["mql", "sql"], AuditConfig(max_auc=0.99, allow=["visits"]))
    assert table["target"].tolist() == ["mql", "sql"] and table["rows"].tolist() == [40, 30]
    assert table.index.tolist() == [0, 1]
    empty = run_audit(examples, ["visits"], [], [])
    assert empty.empty and list(empty.columns) == list(table.columns)
    assert list(run_audit(examples, ["visits"], [], ["mql"], AuditConfig(enabled=False)).columns) == list(table.columns)
    with pytest.raises(LeakageError) as caught:
        run_audit(examples, ["visits"], [], ["mql", "sql"], source="snapshots")
    assert caught.value.message.startswith("snapshots: leakage audit stopped training: 'visits' for 'mql': ")
    assert "'sql'" not in caught.value.message  # a column is named once


def test_audit_samples_rows_with_the_seed_and_keeps_every_row_at_the_limit():
    frame, y = _leaky_frame(n=1000)
    at_limit = audit_columns(frame, y, ["visits"], ["origin"], AuditConfig(max_rows=1000))
    assert at_limit["rows"].tolist() == [1000, 1000]
    everything = audit_columns(frame, y, ["visits"], ["origin"], AuditConfig())
    pd.testing.assert_frame_equal(at_limit, everything)
    frame, y = _leaky_frame(n=1200)
    sampled = [audit_columns(frame, y, ["visits"], [], AuditConfig(max_rows=1000), seed=s)["auc"].iloc[0]
               for s in (0, 0, 1)]
    assert audit_columns(frame, y, ["visits"], [], AuditConfig(max_rows=1000))["auc"].iloc[0] == sampled[0]
    rows = np.sort(np.random.default_rng(0).choice(1200, 1000, replace=False))
    assert sampled[0] == sampled[1] == numeric_auc(frame["visits"].to_numpy()[rows], y[rows]) != sampled[2]


def test_out_of_fold_rates_use_as_many_folds_as_the_rarer_class_allows():
    levels = np.array(["a", "b", "c"] * 20)
    few_negatives = np.ones(60)
    few_negatives[[3, 30, 59]] = 0.0  # three negatives: three folds
    np.testing.assert_allclose(out_of_fold_rates(levels, few_negatives, seed=1),
                               _reference_out_of_fold_rates(levels, few_negatives, 1, folds=3))
    two_positives = np.zeros(60)
    two_positives[[0, 1]] = 1.0  # two positives: two folds still
    np.testing.assert_allclose(out_of_fold_rates(levels, two_positives, seed=1),
                               _reference_out_of_fold_rates(levels, two_positives, 1, folds=2))
    np.testing.assert_allclose(out_of_fold_rates(levels, np.tile([0.0, 1.0], 30), seed=1, folds=4),
                               _reference_out_of_fold_rates(levels, np.tile([0.0, 1.0], 30), 1, folds=4))


def _two_level_frame():
    """40 rows, base rate 1/2: level "lo" (20 rows) has 1/4 positives, "hi" (20 rows) 3/4."""
    y = np.array([1.0] * 5 + [0.0] * 15 + [1.0] * 15 + [0.0] * 5)
    return pd.DataFrame({"grade": ["lo"] * 20 + ["hi"] * 20}), y


def test_the_near_pure_share_follows_the_configured_level_size_and_purity():
    # purity ratio 0.6: at most 0.3 positives (or negatives): both levels are near-pure, when a
    # level of 20 rows is big enough; with the default ratio (0.1) neither is.
    frame, y = _two_level_frame()
    share = {(rows, ratio): audit_columns(frame, y, [], ["grade"], AuditConfig(
        min_level_rows=rows, purity_ratio=ratio))["near_pure_share"].iloc[0]
        for rows, ratio in ((20, 0.6), (21, 0.6), (20, 0.1))}
    assert share == {(20, 0.6): 1.0, (21, 0.6): 0.0, (20, 0.1): 0.0}


def test_an_audit_of_no_columns_is_an_empty_table():
    frame, y = _two_level_frame()
    table = audit_columns(frame, y, [], [])
    assert table.empty and list(table.columns) == ["target", "column", "kind", "rows", "auc",
                                                   "near_pure_share", "levels", "flagged", "allowed"]


def test_the_categorical_auc_uses_the_given_seed_and_zero_by_default():
    from sklearn.metrics import roc_auc_score

    from leadq.models.audit import audit_examples

    rng = np.random.default_rng(8)
    levels = rng.choice(["a", "b", "c", "d", "e"], 200)
    y = (rng.random(200) < np.where(np.isin(levels, ["a", "b"]), 0.6, 0.3)).astype(float)
    examples = pd.DataFrame({"channel": levels, "label_won": y})

    def expected(seed):
        auc = roc_auc_score(y, _reference_out_of_fold_rates(levels, y, seed, folds=5))
        return pytest.approx(max(auc, 1 - auc))

    assert expected(0) != expected(3)
    assert audit_columns(examples, y, [], ["channel"])["auc"].iloc[0] == expected(0)
    assert audit_examples(examples, [], ["channel"], ["won"])["auc"].iloc[0] == expected(0)
    assert audit_examples(examples, [], ["channel"], ["won"], seed=3)["auc"].iloc[0] == expected(3)
    assert run_audit(examples, [], ["channel"], ["won"])["auc"].iloc[0] == expected(0)
    assert run_audit(examples, [], ["channel"], ["won"], seed=3)["auc"].iloc[0] == expected(3)


def test_run_audit_stops_with_the_configured_limits_and_no_source_prefix_by_default():
    y = np.array([0.0, 0.0, 1.0, 1.0] * 10)
    examples = pd.DataFrame({"visits": [0.0, 1.0, 2.0, 3.0] * 10, "label_mql": y})
    with pytest.raises(LeakageError) as caught:
        run_audit(examples, ["visits"], [], ["mql"], AuditConfig(max_auc=0.95, max_near_pure_share=0.25))
    assert caught.value.message.startswith("leakage audit stopped training: 'visits' for 'mql': ROC AUC 1.000")
    assert "(limits: AUC 0.95, near-pure share 25%)" in caught.value.message
