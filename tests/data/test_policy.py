"""The bad-input policy, through the CLI: fatal problems stop with one line, a few bad rows are dropped;
and the policy's own decisions and lines, word for word."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadq.cli import app
from leadq.core.errors import BadInputError
from leadq.data import policy
from leadq.data.mapping import DataMapping

runner = CliRunner()


def write_tables(folder, leads=None, events=None, outcomes=None):
    folder.mkdir(parents=True, exist_ok=True)
    n = 200
    leads = leads if leads is not None else pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)],
        "created_at": ["2024-01-01 08:00"] * n,
        "industry": ["retail", "saas"] * (n // 2),
    })
    events = events if events is not None else pd.DataFrame({
        "lead_id": [f"L{i % n}" for i in range(1000)],
        "ts": [f"2024-02-{1 + i % 27:02d} 10:00" for i in range(1000)],
        "event_type": ["page_view", "pricing_view"] * 500,
        "duration_s": [30.0] * 1000,
    })
    outcomes = outcomes if outcomes is not None else pd.DataFrame({
        "lead_id": ["L1", "L2"], "stage": ["mql", "sql"], "reached_at": ["2024-02-10", "2024-02-12"],
    })
    for name, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
        if frame is not False:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def run_features(folder, tmp_path, *extra):
    out = tmp_path / "out" / "features.csv"
    result = runner.invoke(app, ["features", "--data", str(folder), "--as-of", "2024-03-01",
                                 "--out", str(out), *extra])
    return result, out


def assert_fatal(result, out, *needles):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_clean_data_writes_features(tmp_path):
    result, out = run_features(write_tables(tmp_path / "d"), tmp_path)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("lead_id")
    assert len(table) == 200 and "warning" not in result.stderr
    # lead Lk has events k, k + 200, ..., k + 800: five, all page views (k even) or pricing views (k odd)
    assert (table["events_all"] == 5).all() and (table["time_on_site_s_sum"] == 150).all()
    assert table.loc["L0", "page_view_all"] == 5 and table.loc["L0", "pricing_view_all"] == 0
    assert table.loc["L1", "pricing_view_all"] == 5 and table.loc["L1", "time_on_pricing_view_s_sum"] == 150
    assert table.loc["L7", "industry"] == "saas" and table.loc["L8", "industry"] == "retail"


def test_missing_table_is_fatal(tmp_path):
    folder = write_tables(tmp_path / "d", outcomes=False)
    result, out = run_features(folder, tmp_path)
    assert_fatal(result, out, "outcomes", "not found")


def test_missing_required_column_is_fatal(tmp_path):
    events = pd.DataFrame({"lead_id": ["L1"], "when": ["2024-02-01"], "event_type": ["page_view"]})
    result, out = run_features(write_tables(tmp_path / "d", events=events), tmp_path)
    assert_fatal(result, out, "events.csv", "'ts'", "1 rows")


def test_mostly_unparseable_timestamps_are_fatal(tmp_path):
    events = pd.DataFrame({"lead_id": ["L1"] * 100, "ts": ["yesterday"] * 5 + ["2024-02-01"] * 95,
                           "event_type": ["page_view"] * 100})
    result, out = run_features(write_tables(tmp_path / "d", events=events), tmp_path)
    assert_fatal(result, out, "events.csv", "'ts'", "5 of 100 rows")


def test_duplicate_lead_ids_are_fatal(tmp_path):
    leads = pd.DataFrame({"lead_id": ["A", "A", "B", "C", "C", "C"], "created_at": ["2024-01-01"] * 6})
    result, out = run_features(write_tables(tmp_path / "d", leads=leads), tmp_path)
    assert_fatal(result, out, "leads.csv", "'lead_id'", "3 duplicate lead ids", "5 rows")


def test_empty_leads_table_is_fatal(tmp_path):
    leads = pd.DataFrame({"lead_id": pd.Series([], dtype=str), "created_at": pd.Series([], dtype=str)})
    result, out = run_features(write_tables(tmp_path / "d", leads=leads), tmp_path)
    assert_fatal(result, out, "leads.csv", "'lead_id'", "empty", "0 rows")


def test_mapped_column_missing_names_users_column(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns:\n  events:\n    ts: occurred_at\n")
    result, out = run_features(write_tables(tmp_path / "d"), tmp_path, "--mapping", str(mapping))
    assert_fatal(result, out, "events.csv", "'occurred_at'", "'ts'")


def test_unknown_mapping_key_is_one_line(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("colums: {}\n")
    result, out = run_features(write_tables(tmp_path / "d"), tmp_path, "--mapping", str(mapping))
    assert_fatal(result, out, "mapping.yaml", "unknown key 'colums'")


@pytest.mark.parametrize(
    "row, needle",
    [
        ({"lead_id": "L1", "ts": "not a date", "event_type": "page_view"}, "dropped 1 rows with a missing or unparseable 'ts'"),
        ({"lead_id": "NOBODY", "ts": "2024-02-01", "event_type": "page_view"}, "dropped 1 events for unknown leads"),
        ({"lead_id": "L1", "ts": "2023-12-31", "event_type": "page_view"}, "dropped 1 events before the lead's created_at"),
        ({"lead_id": "L1", "ts": "2999-01-01", "event_type": "page_view"}, "dropped 1 events later than the run's clock"),
        ({"lead_id": "L1", "ts": "2024-02-01", "event_type": "page_view", "duration_s": -5}, "dropped 1 events with a negative duration"),
    ],
)
def test_a_few_bad_event_rows_are_reported_and_dropped(tmp_path, row, needle):
    base = write_tables(tmp_path / "base")
    events = pd.concat([pd.read_csv(base / "events.csv"), pd.DataFrame([row])], ignore_index=True)
    result, out = run_features(write_tables(tmp_path / "d", events=events), tmp_path)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and needle in warnings[0] and "events.csv" in warnings[0], result.stderr
    table = pd.read_csv(out).set_index("lead_id")
    assert table["events_all"].sum() == 1000  # the bad row did not count


def test_outcomes_for_unknown_leads_are_reported(tmp_path):
    outcomes = pd.DataFrame({"lead_id": ["L1", "GHOST"], "stage": ["mql", "mql"],
                             "reached_at": ["2024-02-10", "2024-02-10"]})
    result, out = run_features(write_tables(tmp_path / "d", outcomes=outcomes), tmp_path)
    assert result.exit_code == 0
    assert "outcomes.csv: dropped 1 outcomes for unknown leads" in result.stderr


def test_folder_of_parquet_files_is_a_table(tmp_path):
    folder = write_tables(tmp_path / "d")
    events = pd.read_csv(folder / "events.csv")
    (folder / "events.csv").unlink()
    (folder / "events").mkdir()
    events.iloc[:500].to_parquet(folder / "events" / "part-0.parquet")
    events.iloc[500:].to_parquet(folder / "events" / "part-1.parquet")
    result, out = run_features(folder, tmp_path)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["events_all"].sum() == 1000


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("leadq ")


def test_leads_and_outcomes_later_than_the_clock_are_reported_and_dropped(tmp_path):
    base = write_tables(tmp_path / "base")
    leads = pd.concat([pd.read_csv(base / "leads.csv"),
                       pd.DataFrame([{"lead_id": "FUTURE", "created_at": "2999-01-01", "industry": "saas"}])])
    outcomes = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4"], "stage": ["mql", "sql", "customer", "mql"],
                             "reached_at": ["2024-02-10", "2024-02-12", "2999-01-01", "2999-02-02"]})
    result, out = run_features(write_tables(tmp_path / "d", leads=leads, outcomes=outcomes), tmp_path)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.stderr
    assert "leads.csv: dropped 1 leads whose 'created_at' is later than the run's clock" in warnings[0]
    assert "outcomes.csv: dropped 2 outcomes later than the run's clock" in warnings[1]
    assert "(column 'reached_at')" in warnings[1]
    assert len(pd.read_csv(out)) == 200


def test_the_clock_itself_is_not_later_than_the_clock():
    from leadq.data.load import load_frames

    clock = pd.Timestamp("2024-03-01 12:00", tz="UTC")
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"],
                          "created_at": [clock - pd.Timedelta(days=9), clock, clock + pd.Timedelta(microseconds=1)]})
    events = pd.DataFrame({"lead_id": ["a", "a", "a"], "ts": [clock - pd.Timedelta(days=1), clock,
                                                             clock + pd.Timedelta(microseconds=1)],
                           "event_type": ["page_view"] * 3})
    outcomes = pd.DataFrame({"lead_id": ["a", "b", "a"], "stage": ["mql", "mql", "sql"],
                             "reached_at": [clock, clock, clock + pd.Timedelta(seconds=1)]})
    data = load_frames(leads, events, outcomes, clock=clock)
    assert (data.count("leads"), data.count("events"), data.count("outcomes")) == (2, 2, 2)
    assert data.report == [
        "<leads frame>: dropped 1 leads whose 'created_at' is later than the run's clock (2024-03-01T12:00:00+00:00)",
        "<events frame>: dropped 1 events later than the run's clock 2024-03-01T12:00:00+00:00 (column 'ts')",
        "<outcomes frame>: dropped 1 outcomes later than the run's clock 2024-03-01T12:00:00+00:00 "
        "(column 'reached_at')",
    ]
    assert data.frame("leads")["lead_id"].tolist() == ["a", "b"]


# --- the policy's own decisions and lines, by hand (each engine hands these functions its counts) ---

CLOCK = pd.Timestamp("2024-03-01", tz="UTC")


def test_a_required_column_missing_is_fatal_under_the_users_name():
    mapping = DataMapping(columns={"events": {"ts": "occurred"}})
    policy.require_columns({"lead_id", "occurred", "event_type"}, 10, "events", "events.csv", mapping)
    policy.require_columns({"lead_id": "VARCHAR", "created_at": "TIMESTAMP"}, 3, "leads", "leads.csv", mapping)
    with pytest.raises(BadInputError) as caught:
        policy.require_columns({"lead_id", "ts", "event_type"}, 10, "events", "events.csv", mapping)
    assert caught.value.message == (
        "events.csv: required column 'occurred' (mapped to 'ts') is missing in all 10 rows")
    with pytest.raises(BadInputError) as caught:
        policy.require_columns({"lead_id", "reached_at"}, 7, "outcomes", "outcomes.csv", mapping)
    assert caught.value.message == "outcomes.csv: required column 'stage' is missing in all 7 rows"


def test_unparseable_rows_are_dropped_up_to_the_limit_and_fatal_above_it():
    mapping = DataMapping(max_bad_fraction=0.25)
    report = []
    policy.report_unparseable("leads.csv", "created", 0, 8, mapping, report)
    assert report == []
    policy.report_unparseable("leads.csv", "created", 2, 8, mapping, report)  # exactly the limit
    assert report == ["leads.csv: dropped 2 rows with a missing or unparseable 'created'"]
    with pytest.raises(BadInputError) as caught:
        policy.report_unparseable("leads.csv", "created", 3, 8, mapping, report)
    assert caught.value.message == ("leads.csv: column 'created' has 3 of 8 rows missing or unparseable "
                                    "(37.5%, limit 25.0%)")
    assert len(report) == 1


def test_a_text_attribute_is_numeric_when_99_percent_of_its_values_parse():
    assert policy.is_numeric_attribute(100, 99) is True and policy.is_numeric_attribute(5, 5) is True
    assert policy.is_numeric_attribute(100, 98) is False and policy.is_numeric_attribute(0, 0) is False


def test_repeated_lead_ids_and_an_empty_leads_table_are_fatal():
    policy.check_lead_ids("leads.csv", "id", 5, 5, 0)
    with pytest.raises(BadInputError) as caught:
        policy.check_lead_ids("leads.csv", "id", 10, 7, 5.0)
    assert caught.value.message == "leads.csv: column 'id' has 3 duplicate lead ids (5 rows share an id)"
    policy.check_leads_left("leads.csv", "id", 0, require_leads=False)
    policy.check_leads_left("leads.csv", "id", 1, require_leads=True)
    with pytest.raises(BadInputError) as caught:
        policy.check_leads_left("leads.csv", "id", 0, require_leads=True)
    assert caught.value.message == "leads.csv: column 'id': the leads table is empty (0 rows)"


def test_the_report_lines_word_for_word():
    mapping = DataMapping(columns={"events": {"lead_id": "contact", "ts": "when", "duration_s": "secs"},
                                   "outcomes": {"lead_id": "contact", "reached_at": "on"}})
    assert policy.future_leads_line("leads.csv", "created", 4, CLOCK) == (
        "leads.csv: dropped 4 leads whose 'created' is later than the run's clock (2024-03-01T00:00:00+00:00)")
    assert policy.unparseable_duration_line("events.csv", "secs", 3) == (
        "events.csv: 3 unparseable or non-finite values in 'secs' taken as missing")
    assert policy.duplicate_events_line("events.csv", 2) == (
        "events.csv: dropped 2 exact duplicate events (same lead, time, type, page, content and duration; "
        "a part file delivered twice?)")
    report = []
    counts = {"negative_duration": 1, "after_clock": 0, "unknown_lead": 5, "before_created": 2.0}
    policy.report_drops("events.csv", policy.event_drop_reasons(mapping, CLOCK), counts, report)
    assert report == [
        "events.csv: dropped 5 events for unknown leads (column 'contact')",
        "events.csv: dropped 2 events before the lead's created_at (column 'when')",
        "events.csv: dropped 1 events with a negative duration (column 'secs')",
    ]
    report = []
    policy.report_drops("events.csv", policy.event_drop_reasons(DataMapping(), CLOCK), {"after_clock": 6}, report)
    assert report == ["events.csv: dropped 6 events later than the run's clock 2024-03-01T00:00:00+00:00 "
                      "(column 'ts')"]
    report = []
    policy.report_drops("outcomes.csv", policy.outcome_drop_reasons("outcomes.csv", mapping, CLOCK),
                        {"unknown_lead": 1, "after_clock": 2, "other": 3}, report)
    assert report == [
        "outcomes.csv: dropped 1 outcomes for unknown leads (column 'contact')",
        "outcomes.csv: dropped 2 outcomes later than the run's clock 2024-03-01T00:00:00+00:00 (column 'on')",
    ]
    report = []
    policy.report_drops("events.csv", {"unknown_lead": "dropped {n} x"}, {"unknown_lead": None}, report)
    assert report == []


def test_events_mostly_for_unknown_leads_are_fatal_with_a_hint():
    mapping = DataMapping(max_bad_fraction=0.5)
    hint = lambda: "lead ids look like 'L1'"  # noqa: E731
    policy.check_unknown_lead_events("events.csv", "contact", 5, 10, mapping, hint)  # exactly the limit
    policy.check_unknown_lead_events("events.csv", "contact", 0, 0, mapping, hint)
    with pytest.raises(BadInputError) as caught:
        policy.check_unknown_lead_events("events.csv", "contact", 6, 10, mapping, hint)
    assert caught.value.message == ("events.csv: column 'contact' has 6 of 10 events for unknown leads "
                                    "(60.0%, limit 50.0%); lead ids look like 'L1'")
