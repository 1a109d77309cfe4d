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
