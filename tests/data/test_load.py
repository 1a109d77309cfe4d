"""Reading data safely (`leadq.data.load`, the config and mapping), through the CLI: file and
target names never become SQL, non-finite values are unparseable, unknown-lead events have a
limit, exact duplicate events are dropped, and nonsensical settings are refused before any work."""

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, warning_lines, write_contract_tables
from leadq.cli import app
from leadq.data.load import load_data
from leadq.features.examples import snapshot_cutoffs

runner = CliRunner()


def features(data, out, *extra):
    return runner.invoke(app, ["features", "--data", str(data), "--as-of", "2024-03-01", "--out", str(out), *extra])


def test_a_part_file_name_cannot_run_sql(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_contract_tables(tmp_path / "d")
    leads = pd.read_csv(data / "leads.csv")
    (data / "leads.csv").unlink()
    (data / "leads").mkdir()
    # Pasted into SQL as Python's repr, this name closed the string and the call, then ran COPY.
    hostile = "a'], header=true); COPY (SELECT 42 AS x) TO $$pwned.txt$$; -- \".csv"
    leads.iloc[:100].to_csv(data / "leads" / hostile, index=False)
    leads.iloc[100:].to_csv(data / "leads" / "b.csv", index=False)
    leads.iloc[:100].to_csv(data / "leads" / "a\\", index=False)  # what the broken SQL would have read
    out = tmp_path / "f.csv"
    result = features(data, out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 200  # both parts read, as data
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("targets, needle", [(["sql", "won't"], "target \"won't\""),
                                             (["mql", "SQL"], "target 'SQL'")])
def test_target_names_are_validated_before_any_work(tmp_path, targets, needle):
    import yaml

    data = write_contract_tables(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"targets": targets, "registry": {"promotion_metric": f"test_log_loss_{targets[0]}"}}))
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data),
                                 "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    assert_one_line_error(result, 2, str(config), needle)
    assert tree_state(tmp_path) == before and not (tmp_path / "store").exists()


def test_non_finite_timestamps_are_unparseable_values(tmp_path):
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(200)], "created_at": ["2024-01-01"] * 200,
                          "industry": ["retail"] * 200})
    leads.loc[0, "created_at"] = "-infinity"  # how PostgreSQL exports it
    data = write_contract_tables(tmp_path / "d", leads=leads)
    out = tmp_path / "f.csv"
    result = features(data, out)
    assert result.exit_code == 0, result.output
    assert any("dropped 1 rows with a missing or unparseable 'created_at'" in w for w in warning_lines(result))
    assert "L0" not in set(pd.read_csv(out)["lead_id"])

    leads.loc[:20, "created_at"] = "infinity"
    data = write_contract_tables(tmp_path / "e", leads=leads)
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, out), 2, "leads.csv", "'created_at'", "21 of 200 rows")
    assert tree_state(tmp_path) == before


def test_non_finite_durations_and_attributes_are_missing_and_reported(tmp_path):
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(200)], "created_at": ["2024-01-01"] * 200,
                          "size": [str(10 + i) for i in range(200)]})
    leads.loc[3, "size"] = "inf"
    events = pd.DataFrame({"lead_id": ["L1", "L1", "L2"], "ts": ["2024-02-01 10:00", "2024-02-01 11:00", "2024-02-02"],
                           "event_type": ["page_view"] * 3, "duration_s": ["30", "inf", "-Infinity"]})
    data = write_contract_tables(tmp_path / "d", leads=leads, events=events)
    out = tmp_path / "f.csv"
    result = features(data, out)
    assert result.exit_code == 0, result.output
    warnings = " | ".join(warning_lines(result))
    assert "2 unparseable or non-finite values in 'duration_s' taken as missing" in warnings
    assert "1 values of column 'size' are not finite numbers, read as missing" in warnings
    table = pd.read_csv(out).set_index("lead_id")
    assert table.loc["L1", "time_on_site_s_sum"] == 30 and table.loc["L1", "events_all"] == 2
    assert np.isnan(table.loc["L3", "size"]) and table.loc["L4", "size"] == 14


def test_events_of_unknown_leads_over_the_limit_are_fatal_and_name_the_id_formats(tmp_path):
    leads = pd.DataFrame({"lead_id": [str(i) for i in range(1, 201)], "created_at": ["2024-01-01"] * 200})
    events = pd.DataFrame({"lead_id": [f"{1 + i % 200:03d}" for i in range(1000)],
                           "ts": ["2024-02-01"] * 1000, "event_type": ["page_view"] * 1000})
    data = write_contract_tables(tmp_path / "d", leads=leads, events=events)
    before = tree_state(tmp_path)
    line = assert_one_line_error(features(data, tmp_path / "f.csv"), 2, "events.csv", "'lead_id'",
                                 "events for unknown leads", "limit 1.0%", "ids differ in format")
    assert re.search(r"'0+(\d+)' here vs '\1' in the leads table", line), line
    assert tree_state(tmp_path) == before


def test_exact_duplicate_events_are_reported_and_dropped(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    once = tmp_path / "once.csv"
    assert features(data, once).exit_code == 0
    events = pd.read_csv(data / "events.csv")
    (data / "events.csv").unlink()
    (data / "events").mkdir()
    events.to_csv(data / "events" / "part-0.csv", index=False)
    events.iloc[:300].to_csv(data / "events" / "part-0-again.csv", index=False)  # delivered twice
    twice = tmp_path / "twice.csv"
    result = features(data, twice)
    assert result.exit_code == 0, result.output
    assert any("dropped 300 exact duplicate events" in w for w in warning_lines(result))
    pd.testing.assert_frame_equal(pd.read_csv(once), pd.read_csv(twice))


def test_duplicates_are_dropped_from_the_events_view_too(tmp_path):
    events = pd.DataFrame({"lead_id": ["L1", "L1", "L1"], "ts": ["2024-02-01 10:00"] * 3,
                           "event_type": ["pricing_view", "pricing_view", "page_view"]})
    data = load_data(write_contract_tables(tmp_path / "d", events=events))
    assert len(data.events) == 2
    assert data.con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 2


@pytest.mark.parametrize("mapping_text, needle", [
    ("columns:\n  lead: {lead_id: contact_id}\n", "unknown table 'lead'"),
    ("columns:\n  leads: {leadid: contact_id}\n", "'leadid' is not a column"),
    ("columns:\n  events: {duration_s: seconds}\n", "column 'seconds' (mapped to 'duration_s') is missing"),
    ("max_bad_fraction: 2\n", "max_bad_fraction"),
])
def test_a_mapping_naming_unknown_things_is_refused(tmp_path, mapping_text, needle):
    data = write_contract_tables(tmp_path / "d")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(mapping_text)
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, tmp_path / "f.csv", "--mapping", str(mapping)), 2, needle)
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("features_yaml, needle", [
    ("session_gap_minutes: -1", "session_gap_minutes"),
    ("trend_recent_days: 0", "trend_recent_days"),
    ("{return_min_hours: 200, return_max_days: 7}", "return_min_hours"),
])
def test_nonsensical_feature_settings_are_refused_before_any_work(tmp_path, features_yaml, needle):
    data = write_contract_tables(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(f"features: {features_yaml}\n" if features_yaml.startswith("{")
                      else f"features:\n  {features_yaml}\n")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data),
                                 "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    assert_one_line_error(result, 2, needle)
    assert tree_state(tmp_path) == before and not (tmp_path / "store").exists()


def test_yaml_that_is_not_utf8_is_one_line(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    mapping = tmp_path / "m.yaml"
    mapping.write_bytes("event_types:\n  \"Vu la page tarifs\u00e9\": pricing_view\n".encode("latin-1"))
    config = tmp_path / "c.yaml"
    config.write_bytes("experiment_name: \"d\u00e9mo\"\n".encode("latin-1"))
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, tmp_path / "f.csv", "--mapping", str(mapping)), 2, "m.yaml",
                          "not UTF-8", "line 2")
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data),
                                 "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    assert_one_line_error(result, 2, "c.yaml", "not UTF-8", "line 1")
    assert tree_state(tmp_path) == before


def test_a_target_no_outcome_reaches_is_its_own_error(tmp_path):
    import yaml

    data = write_contract_tables(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"targets": ["mql", "sql", "demo_booked"]}))
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data),
                                 "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    assert_one_line_error(result, 2, "outcomes.csv", "never reaches target 'demo_booked'", "stages present: mql, sql")
    assert tree_state(tmp_path) == before and not (tmp_path / "store").exists()


def test_too_few_positives_is_its_own_error_not_a_leakage_finding(tmp_path):
    events = pd.DataFrame({"lead_id": [f"L{i % 200}" for i in range(2000)],
                           "ts": (pd.Timestamp("2024-01-02") + pd.to_timedelta(np.arange(2000) % 360, unit="D")
                                  ).strftime("%Y-%m-%d %H:%M").tolist(),
                           "event_type": ["page_view"] * 2000})
    data = write_contract_tables(tmp_path / "d", events=events)  # a year of history, two outcomes only
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["train", "--data", str(data), "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db"])
    line = assert_one_line_error(result, 2, "target 'mql'", "window")
    assert "leakage" not in line
    assert tree_state(tmp_path) == before and not (tmp_path / "store").exists()


def test_cutoffs_start_where_the_leads_are_not_at_a_stray_early_date(tmp_path):
    n = 300
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)],
                          "created_at": [f"2024-01-{1 + i % 28:02d}" for i in range(n)]})
    leads.loc[0, "created_at"] = "1970-01-01"  # a placeholder date on 1 lead of 300
    events = pd.DataFrame({"lead_id": [f"L{i}" for i in range(1, n)], "ts": ["2024-06-30"] * (n - 1),
                           "event_type": ["page_view"] * (n - 1)})
    data = load_data(write_contract_tables(tmp_path / "d", leads=leads, events=events))
    cutoffs = snapshot_cutoffs(data, cadence_days=7, horizon_days=30)
    # 1 % of 300 leads existed by 2024-01-01 (3 leads per day from then on): the first cutoff is
    # the first weekly midnight on or after it, counted back from 2024-05-31 (June 30 minus 30 days).
    assert cutoffs[0] == pd.Timestamp("2024-01-05", tz="UTC")
    assert cutoffs[-1] == pd.Timestamp("2024-05-31", tz="UTC") and len(cutoffs) == 22


def test_events_sharing_a_hash_are_compared_value_by_value(monkeypatch):
    from leadq.data import integrity

    columns = {
        "lead_key": np.array([1, 2, 1, 1, 2], dtype=np.int32), "us": np.array([10, 10, 10, 11, 10]),
        "type_code": np.zeros(5, dtype=np.int32), "page_hash": np.zeros(5, dtype=np.uint64),
        "content_hash": np.zeros(5, dtype=np.uint64), "duration_s": np.array([np.nan, 1.0, np.nan, np.nan, 2.0]),
    }
    assert integrity.exact_duplicates(columns).tolist() == [False, False, True, False, False]
    # Every event given the same hash: still only the exact copy of the first is dropped.
    monkeypatch.setattr(integrity, "_digest", lambda cols: np.zeros(len(cols["us"]), dtype=np.uint64))
    assert integrity.exact_duplicates(columns).tolist() == [False, False, True, False, False]
