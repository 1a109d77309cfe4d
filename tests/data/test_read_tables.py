"""Finding a table among a user's files (`tables:`) and gathering columns named differently."""

import pandas as pd
import pytest

from leadq.core.errors import BadInputError
from leadq.data.load import load_data
from leadq.data.mapping import DataMapping
from leadq.data.read_tables import locate_tables

CLOCK = pd.Timestamp("2026-07-01", tz="UTC")


def _touch(path, text="a\n1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_stems_paths_folders_and_lists(tmp_path):
    contacts = _touch(tmp_path / "contacts.csv")
    parts = [_touch(tmp_path / "activity" / f"part{i}.parquet") for i in (1, 2)]
    nested = _touch(tmp_path / "crm" / "2026" / "stages.csv")
    elsewhere = _touch(tmp_path.parent / f"{tmp_path.name}_other" / "leads.csv")
    assert locate_tables(tmp_path, "leads", "contacts") == ([contacts], "csv")
    assert locate_tables(tmp_path, "leads", "contacts.csv") == ([contacts], "csv")
    assert locate_tables(tmp_path, "events", "activity") == (parts, "parquet")
    assert locate_tables(tmp_path, "outcomes", "crm/2026/stages.csv") == ([nested], "csv")
    assert locate_tables(tmp_path, "leads", str(elsewhere)) == ([elsewhere], "csv")
    assert locate_tables(tmp_path, "events", ["contacts", "crm/2026/stages"]) == ([contacts, nested], "csv")
    assert locate_tables(tmp_path, "outcomes", "lifecycle", required=False) is None


def test_a_named_table_that_is_absent_says_what_was_looked_for(tmp_path):
    with pytest.raises(BadInputError) as caught:
        locate_tables(tmp_path, "events", "activities")
    assert caught.value.message == (f"{tmp_path}: table 'events' named 'activities' in the mapping not found "
                                    "(looked for activities.parquet, activities.csv, activities/; 0 rows)")
    with pytest.raises(BadInputError) as caught:
        locate_tables(tmp_path, "events", "activities.csv")
    assert "file for table 'events' not found (tables.events in the mapping" in caught.value.message


def test_files_mixing_formats_are_refused(tmp_path):
    _touch(tmp_path / "a.csv")
    _touch(tmp_path / "b.parquet")
    with pytest.raises(BadInputError, match="mix CSV and Parquet"):
        locate_tables(tmp_path, "events", ["a", "b"])


def test_two_event_files_with_their_own_column_names_read_as_one_table(tmp_path):
    pd.DataFrame({"Id": ["L1", "L2"], "CreatedDate": ["2026-01-01", "2026-01-01"]}).to_csv(tmp_path / "Lead.csv",
                                                                                           index=False)
    pd.DataFrame({"WhoId": ["L1", "L2"], "CreatedDate": ["2026-02-01", "2026-02-02"],
                  "TaskSubtype": ["Email", "Call"]}).to_csv(tmp_path / "Task.csv", index=False)
    pd.DataFrame({"LeadId": ["L2"], "CreatedDate": ["2026-02-03"], "CampaignType": ["Webinar"]}) \
        .to_csv(tmp_path / "CampaignMember.csv", index=False)
    pd.DataFrame({"lead_id": ["L1"], "stage": ["mql"], "reached_at": ["2026-03-01"]}) \
        .to_csv(tmp_path / "outcomes.csv", index=False)
    mapping = DataMapping.model_validate({
        "tables": {"leads": "Lead", "events": ["Task", "CampaignMember"]},
        "columns": {"leads": {"lead_id": "Id", "created_at": "CreatedDate"},
                    "events": {"lead_id": ["WhoId", "LeadId"], "ts": "CreatedDate",
                               "event_type": ["TaskSubtype", "CampaignType"]}},
    })
    data = load_data(tmp_path, mapping, clock=CLOCK)
    events = data.frame("events").sort_values("ts")
    assert events[["lead_id", "event_type"]].values.tolist() == [["L1", "Email"], ["L2", "Call"], ["L2", "Webinar"]]
    assert data.sources["events"] == f"{tmp_path}/"
    # The gathered columns, not their parts, are what the leads' attributes leave out.
    assert data.categorical_attributes == [] and data.numeric_attributes == []


def test_an_unparseable_gathered_column_is_named_as_gathered(tmp_path):
    pd.DataFrame({"Id": ["L1"], "CreatedDate": ["2026-01-01"]}).to_csv(tmp_path / "leads.csv", index=False)
    pd.DataFrame({"A": ["L1"] * 3, "ts": ["2026-02-01"] * 3, "type": ["x"] * 3}).to_csv(tmp_path / "events.csv",
                                                                                        index=False)
    pd.DataFrame({"lead_id": ["L1"], "stage": ["mql"], "reached_at": ["2026-03-01"]}) \
        .to_csv(tmp_path / "outcomes.csv", index=False)
    mapping = DataMapping.model_validate({
        "columns": {"leads": {"lead_id": "Id", "created_at": "CreatedDate"},
                    "events": {"lead_id": ["A", "B"], "event_type": ["kind", "Type"]}}})
    with pytest.raises(BadInputError) as caught:
        load_data(tmp_path, mapping, clock=CLOCK)
    assert caught.value.message == (f"{tmp_path / 'events.csv'}: required column 'kind or Type' (mapped to "
                                    "'event_type') is missing in all 3 rows")


def test_the_spark_engine_refuses_what_it_cannot_read_yet(tmp_path):
    from leadq.spark.load import load_spark_tables

    mapping = DataMapping.model_validate({"tables": {"events": "activities"},
                                          "event_rules": [{"type": "pricing_view", "when": {"page": "/pricing*"}}],
                                          "csv": {"delimiter": ";"}})
    with pytest.raises(BadInputError) as caught:
        load_spark_tables(None, tmp_path, mapping)
    assert caught.value.message == ("mapping: the Spark engine reads files and maps column names and event-type "
                                    "values; it does not support event_rules, csv yet: use --engine duckdb")
