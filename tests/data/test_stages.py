"""Stages as the CRM spells them, and stage dates held as columns of the leads table."""

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.data.load import load_data, load_frames
from leadq.data.mapping import DataMapping

CLOCK = pd.Timestamp("2026-07-01", tz="UTC")


def _contacts(tmp_path):
    pd.DataFrame({
        "id": ["1", "2", "3"],
        "created": ["2026-01-01", "2026-01-02", "2026-01-03"],
        "industry": ["Retail", "Banking", "Retail"],
        "MQL date": ["03/02/2026 10:00", "", "05/02/2026 09:30"],
        "SQL date": ["04/03/2026 11:15", "", ""],
        "Lifecycle Stage": ["salesqualifiedlead", "lead", "marketingqualifiedlead"],
    }).to_csv(tmp_path / "contacts.csv", index=False)
    pd.DataFrame({"id": ["1", "3"], "ts": ["2026-01-05", "2026-01-06"], "type": ["Page View", "Page View"]}) \
        .to_csv(tmp_path / "activities.csv", index=False)


MAPPING = {
    "tables": {"leads": "contacts", "events": "activities.csv"},
    "columns": {"leads": {"lead_id": "id", "created_at": "created"},
                "events": {"lead_id": "id", "event_type": "type"}},
    "stage_columns": {"mql": "MQL date", "sql": "SQL date"},
    "timestamps": {"leads": {"MQL date": "%d/%m/%Y %H:%M", "SQL date": "%d/%m/%Y %H:%M"}},
    "exclude_columns": ["Lifecycle Stage"],
}


def test_stage_columns_replace_the_outcomes_table_and_are_not_attributes(tmp_path):
    _contacts(tmp_path)
    data = load_data(tmp_path, DataMapping.model_validate(MAPPING), clock=CLOCK)
    outcomes = data.frame("outcomes").sort_values(["lead_id", "stage"]).reset_index(drop=True)
    assert outcomes.values.tolist() == [
        ["1", "mql", pd.Timestamp("2026-02-03 10:00", tz="UTC")],
        ["1", "sql", pd.Timestamp("2026-03-04 11:15", tz="UTC")],
        ["3", "mql", pd.Timestamp("2026-02-05 09:30", tz="UTC")],
    ]
    assert data.categorical_attributes == ["industry"] and data.numeric_attributes == []
    assert data.sources["outcomes"] == f"{tmp_path / 'contacts.csv'} (stage_columns)"
    assert data.report == []


def test_stage_columns_add_to_an_outcomes_table_whose_stages_are_mapped(tmp_path):
    _contacts(tmp_path)
    pd.DataFrame({"contact": ["2", "2", "3"], "new_stage": ["Sales Qualified Lead", "Closed Won", "Nurture"],
                  "at": ["2026-04-01", "2026-05-01", "2026-04-02"]}).to_csv(tmp_path / "lifecycle.csv", index=False)
    mapping = {**MAPPING, "tables": {**MAPPING["tables"], "outcomes": "lifecycle"},
               "columns": {**MAPPING["columns"], "outcomes": {"lead_id": "contact", "stage": "new_stage",
                                                              "reached_at": "at"}},
               "stages": {"SALES QUALIFIED LEAD": "sql", "closed_won": "customer"}}
    data = load_data(tmp_path, DataMapping.model_validate(mapping), clock=CLOCK)
    outcomes = data.frame("outcomes").sort_values(["lead_id", "stage"]).reset_index(drop=True)
    assert [tuple(r[:2]) for r in outcomes.values.tolist()] == [
        ("1", "mql"), ("1", "sql"), ("2", "customer"), ("2", "sql"), ("3", "mql"), ("3", "nurture")]
    assert data.sources["outcomes"] == str(tmp_path / "lifecycle.csv")


def test_stage_values_are_matched_without_case_spaces_or_underscores():
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "created_at": pd.to_datetime(["2026-01-01"] * 3, utc=True)})
    events = pd.DataFrame({"lead_id": ["a"], "ts": pd.to_datetime(["2026-01-02"], utc=True), "event_type": ["x"]})
    outcomes = pd.DataFrame({"lead_id": ["a", "b", "c"], "stage": ["marketingqualifiedlead", "Marketing Qualified-Lead",
                                                                   "MQL"],
                             "reached_at": pd.to_datetime(["2026-02-01"] * 3, utc=True)})
    mapping = DataMapping(stages={"Marketing Qualified Lead": "MQL"})
    data = load_frames(leads, events, outcomes, mapping, clock=CLOCK)
    assert data.frame("outcomes")["stage"].tolist() == ["mql", "mql", "mql"]


def test_a_stage_column_the_leads_lack_is_one_line(tmp_path):
    _contacts(tmp_path)
    mapping = {**MAPPING, "stage_columns": {"mql": "MQL date", "customer": "Became a Customer Date"}}
    with pytest.raises(BadInputError) as caught:
        load_data(tmp_path, DataMapping.model_validate(mapping), clock=CLOCK)
    assert caught.value.message == (f"{tmp_path / 'contacts.csv'}: column 'Became a Customer Date' "
                                    "(stage_columns.customer in the mapping) is missing in all 3 rows")


def test_without_stage_columns_the_outcomes_table_is_still_required(tmp_path):
    _contacts(tmp_path)
    mapping = {k: v for k, v in MAPPING.items() if k not in ("stage_columns", "timestamps")}
    with pytest.raises(BadInputError) as caught:
        load_data(tmp_path, DataMapping.model_validate(mapping), clock=CLOCK)
    assert "table 'outcomes' not found" in caught.value.message
