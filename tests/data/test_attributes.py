"""Attribute types (`leadq.data.attributes`): a model reads each attribute as its feature spec
recorded at training, whatever the scoring data would suggest, and reports values it cannot parse."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, warning_lines, write_contract_tables
from leadq.cli import app
from leadq.data.load import load_data
from leadq.features.engine import build_features
from leadq.features.spec import FeatureSpec

runner = CliRunner()
CUT = pd.Timestamp("2024-03-01", tz="UTC")


def leads_with(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "created_at": ["2024-01-01"] * n, **columns})


def test_a_categorical_attribute_stays_its_text_when_the_scoring_data_looks_numeric(tmp_path):
    # At training `plan` held "1", "2", "3" and "unknown": categorical. Today's export has no
    # "unknown", so on its own it would read as numbers; the model's spec says categorical.
    data = load_data(write_contract_tables(tmp_path / "d", leads=leads_with(plan=["1", "2", "3", " 2"] * 50)))
    assert data.numeric_attributes == ["plan"]
    table = build_features(data, FeatureSpec(categorical_attributes=["plan"]), CUT)
    assert sorted(table["plan"].unique()) == [" 2", "1", "2", "3"]  # never "2.0", an unseen level


def test_a_numeric_attribute_with_text_at_scoring_is_missing_not_a_crash(tmp_path):
    sizes = [str(10 * i) for i in range(200)]
    sizes[5:15] = ["unknown"] * 10  # 5 %: read on its own, the column is categorical
    sizes[16] = " 70 "
    data = load_data(write_contract_tables(tmp_path / "d", leads=leads_with(size=sizes)))
    assert data.categorical_attributes == ["size"]
    table = build_features(data, FeatureSpec(numeric_attributes=["size"]), CUT).set_index("lead_id")
    assert np.isnan(table.loc["L5", "size"]) and table.loc["L16", "size"] == 70.0 and table.loc["L20", "size"] == 200.0
    assert table["size"].dtype == np.float64


def test_numbers_keep_their_values_in_rules_and_frames(tmp_path):
    data = load_data(write_contract_tables(tmp_path / "d", leads=leads_with(size=["5", "", "7.5", "x"] + ["1"] * 196)))
    frame = data.frame("leads").set_index("lead_id")
    assert data.numeric_attributes == ["size"]  # 99 % parse
    assert frame.loc["L0", "size"] == 5.0 and frame.loc["L2", "size"] == 7.5
    assert np.isnan(frame.loc["L1", "size"]) and np.isnan(frame.loc["L3", "size"])


@pytest.fixture
def scoring_copy(trained, tmp_path):
    """The trained store's data with leads as CSV (text values, as a CRM export gives them)."""
    folder = tmp_path / "today"
    folder.mkdir()
    for table in ("events", "outcomes"):
        pd.read_parquet(trained.data_dir / f"{table}.parquet").to_parquet(folder / f"{table}.parquet")
    leads = pd.read_parquet(trained.data_dir / "leads.parquet")
    return folder, leads


def _predict(folder, out, trained):
    return runner.invoke(app, ["predict", "--data", str(folder), "--out", str(out), "--as-of", "2026-06-01",
                               "--tracking-uri", trained.tracking_uri])


@pytest.mark.slow
def test_text_in_a_column_the_model_reads_as_numeric(trained, scoring_copy, tmp_path):
    folder, leads = scoring_copy
    bad = leads.astype({"company_size": object})
    bad.loc[bad.index[::3], "company_size"] = "unknown"  # a third of the rows
    bad.to_csv(folder / "leads.csv", index=False)
    before = tree_state(tmp_path)
    assert_one_line_error(_predict(folder, tmp_path / "s.csv", trained), 2, "leads.csv", "'company_size'",
                          "not numbers", "reads 'company_size' as numeric")
    assert tree_state(tmp_path) == before

    one = leads.astype({"company_size": object})
    lead = one.loc[10, "lead_id"]
    one.loc[10, "company_size"] = "unknown"
    one.to_csv(folder / "leads.csv", index=False)
    result = _predict(folder, tmp_path / "s1.csv", trained)
    assert result.exit_code == 0, result.output
    assert any("1 values of column 'company_size' are not finite numbers" in w for w in warning_lines(result))
    one.loc[10, "company_size"] = ""
    one.to_csv(folder / "leads.csv", index=False)
    assert _predict(folder, tmp_path / "s2.csv", trained).exit_code == 0
    unknown = pd.read_csv(tmp_path / "s1.csv").set_index("lead_id")
    blank = pd.read_csv(tmp_path / "s2.csv").set_index("lead_id")
    assert lead in unknown.index
    pd.testing.assert_frame_equal(unknown.drop(columns=["scored_at"]), blank.drop(columns=["scored_at"]))
