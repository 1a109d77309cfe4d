"""Typed timestamps (`leadq.core.timestamps`): `--as-of` is ISO 8601 or `now` in UTC; anything
else stops with one line and leaves the previous output as it was."""

import time
from datetime import datetime, timezone

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, warning_lines, write_contract_tables
from leadq.cli import app
from leadq.core.errors import BadInputError
from leadq.core.timestamps import parse_timestamp

runner = CliRunner()


@pytest.fixture(scope="module")
def scored_folder(tmp_path_factory):
    """A data folder and a features file written from it (the previous night's output)."""
    root = tmp_path_factory.mktemp("as_of")
    data = write_contract_tables(root / "d")
    out = root / "f.csv"
    first = runner.invoke(app, ["features", "--data", str(data), "--as-of", "2024-03-01", "--out", str(out)])
    assert first.exit_code == 0 and len(pd.read_csv(out)) == 200
    return root, data, out


@pytest.mark.parametrize("as_of", ["", "   ", "nan", "NaT", "03/04/2026", "2026-02-30", "tomorrow", "1e9",
                                   "2024-13-01", "9999-01-01"])
def test_an_unusable_as_of_is_one_line_and_keeps_the_previous_output(scored_folder, as_of):
    root, data, out = scored_folder
    before = tree_state(root)
    result = runner.invoke(app, ["features", "--data", str(data), "--as-of", as_of, "--out", str(out)])
    assert_one_line_error(result, 2, "--as-of")
    assert tree_state(root) == before


def test_rules_score_refuses_an_empty_as_of_instead_of_defaulting(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    card = tmp_path / "card.yaml"
    card.write_text("events: {pricing_view: {points: 10}}\nthresholds: {mql: 10, sql: 20}\n")
    before = tree_state(tmp_path)
    result = runner.invoke(app, ["rules", "score", "--rules", str(card), "--data", str(data), "--as-of", "",
                                 "--out", str(tmp_path / "r.csv")])
    assert_one_line_error(result, 2, "--as-of: empty timestamp")
    assert tree_state(tmp_path) == before


def test_a_cutoff_after_the_clock_is_a_warning(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    result = runner.invoke(app, ["features", "--data", str(data), "--as-of", "2200-01-01",
                                 "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    assert any("is after the run's clock" in line for line in warning_lines(result))


def test_iso_forms_and_offsets_are_converted_to_utc():
    assert parse_timestamp("2024-03-01") == pd.Timestamp("2024-03-01", tz="UTC")
    assert parse_timestamp("2024-03-01T02:30:00+02:00") == pd.Timestamp("2024-03-01 00:30", tz="UTC")
    assert parse_timestamp("2024-03-01 08:00Z") == pd.Timestamp("2024-03-01 08:00", tz="UTC")
    clock = pd.Timestamp("2025-05-05 05:05", tz="UTC")
    assert parse_timestamp("NOW", clock=clock) == clock and parse_timestamp("today", clock=clock) == clock


def test_now_is_utc_whatever_the_local_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT+10")  # ten hours behind UTC
    time.tzset()
    try:
        parsed = parse_timestamp("now")
        utc_now = datetime.now(timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert str(parsed.tz) == "UTC"
    assert abs((utc_now - parsed.to_pydatetime()).total_seconds()) < 3600  # a local-as-UTC bug is 10 h off


def test_ambiguous_day_month_text_is_never_guessed():
    with pytest.raises(BadInputError, match="day and month are never guessed"):
        parse_timestamp("04/03/2026")
