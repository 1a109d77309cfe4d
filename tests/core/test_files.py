"""Output safety (`leadq.core.files`), through the CLI: an output never replaces an input, is
written whole with its report or not at all, gets the usual file mode, and CSV cells cannot run
as spreadsheet formulas. Each failure is one line, a documented exit code, and no file changed."""

import errno
import os
import socket
import stat

import numpy as np
import pandas as pd
import pyarrow.csv
import pytest
from typer.testing import CliRunner

from cli_checks import assert_one_line_error, tree_state, write_contract_tables
from leadq.cli import app
from leadq.core.errors import LeadqError
from leadq.core.files import atomic_paths, neutralise_formulas, write_csv

runner = CliRunner()


def features(data, out, *extra):
    return runner.invoke(app, ["features", "--data", str(data), "--as-of", "2024-03-01", "--out", str(out), *extra])


@pytest.mark.parametrize("target", ["events.csv", "leads/part-1.csv", "leads.parquet", "link.csv"])
def test_an_output_that_is_or_shadows_an_input_is_refused(tmp_path, target):
    data = write_contract_tables(tmp_path / "d")
    # leads as a folder of parts, to test "inside an input table's folder"
    (data / "leads").mkdir()
    os.replace(data / "leads.csv", data / "leads" / "part-1.csv")
    (data / "link.csv").symlink_to(data / "events.csv")
    before = tree_state(tmp_path)
    result = features(data, data / target)
    assert_one_line_error(result, 2, "--out", str(data / target))
    assert tree_state(tmp_path) == before


def test_an_output_named_like_a_table_beside_the_data_is_refused(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, data / "outcomes.parquet"), 2, "second copy of the input table")
    assert tree_state(tmp_path) == before


def test_an_output_that_is_a_folder_or_under_a_file_is_refused(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "afile").write_text("x")
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, tmp_path / "folder.csv"), 2, "is a folder")
    assert_one_line_error(features(data, tmp_path / "afile" / "out.csv"), 2, "is a file, not a folder")
    assert tree_state(tmp_path) == before


def test_a_table_given_twice_or_a_folder_mixing_formats_is_refused(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    pd.read_csv(data / "leads.csv").to_parquet(data / "leads.parquet")
    out = tmp_path / "f.csv"
    assert_one_line_error(features(data, out), 2, "leads.csv", "leads.parquet", "keep one")
    assert not out.exists()

    data = write_contract_tables(tmp_path / "e")
    events = pd.read_csv(data / "events.csv")
    (data / "events").mkdir()
    events.iloc[:500].to_parquet(data / "events" / "part-0.parquet")
    events.iloc[500:].to_csv(data / "events" / "part-1.csv", index=False)
    (data / "events.csv").unlink()
    before = tree_state(tmp_path)
    assert_one_line_error(features(data, out), 2, "mixes 1 .parquet and 1 .csv parts", "part-0.parquet",
                          "part-1.csv")
    assert tree_state(tmp_path) == before


def test_hidden_and_underscore_files_are_not_parts(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    (data / "events").mkdir()
    os.replace(data / "events.csv", data / "events" / "part-0.csv")
    (data / "events" / "_SUCCESS").write_text("")
    (data / "events" / ".part-0.csv.crc").write_text("garbage")
    (data / "events" / "_stale.csv").write_text("lead_id,ts,event_type\nL1,2024-02-01,page_view\n")
    out = tmp_path / "f.csv"
    assert features(data, out).exit_code == 0
    assert pd.read_csv(out)["events_all"].sum() == 1000


def test_outputs_get_the_umask_mode_and_keep_an_existing_files_mode(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    out = tmp_path / "f.parquet"
    previous = os.umask(0o027)
    try:
        assert features(data, out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
        os.chmod(out, 0o604)
        assert features(data, out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o604
    finally:
        os.umask(previous)


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_stale_temporaries_of_a_killed_run_are_removed_others_kept(tmp_path):
    data = write_contract_tables(tmp_path / "d")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    host = socket.gethostname()
    stale = out_dir / f".f.csv.{_dead_pid()}@{host}.x1.tmp"
    running = out_dir / f".f.csv.{os.getpid()}@{host}.x2.tmp"
    other_host = out_dir / f".f.csv.{_dead_pid()}@another-host.x3.tmp"
    other_file = out_dir / f".g.csv.{_dead_pid()}@{host}.x4.tmp"
    for path in (stale, running, other_host, other_file):
        path.write_text("partial")
    assert features(data, out_dir / "f.csv").exit_code == 0
    assert not stale.exists()
    assert running.exists() and other_host.exists() and other_file.exists()


def test_a_full_disk_is_one_line_and_leaves_the_previous_output(tmp_path, monkeypatch):
    data = write_contract_tables(tmp_path / "d")
    out = tmp_path / "f.csv"
    assert features(data, out).exit_code == 0
    before = tree_state(tmp_path)

    def no_space(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)  # both CSV writers fail
    monkeypatch.setattr(pyarrow.csv, "write_csv", lambda table, path, **_: no_space(table, path))
    assert_one_line_error(features(data, out), 2, str(out), "No space left on device", "nothing was replaced")
    assert tree_state(tmp_path) == before


def test_files_written_together_are_all_replaced_or_none(tmp_path):
    scores, report = tmp_path / "s.csv", tmp_path / "s.csv.report.json"
    scores.write_text("old scores")
    report.write_text("old report")
    with pytest.raises(LeadqError, match="nothing was replaced"):
        with atomic_paths(scores, report) as (scores_tmp, report_tmp):
            scores_tmp.write_text("new scores")
            raise OSError(errno.EIO, "report could not be written")
    assert scores.read_text() == "old scores" and report.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.report.json"]
    with atomic_paths(scores, report) as (scores_tmp, report_tmp):
        scores_tmp.write_text("new scores")
        report_tmp.write_text("new report")
    assert scores.read_text() == "new scores" and report.read_text() == "new report"


def test_csv_cells_that_would_run_as_formulas_are_neutralised_parquet_untouched(tmp_path):
    leads = pd.DataFrame({
        "lead_id": ["=1+1", "@SUM(A1)", "+33 1 23", "-5", "L4", "L5"],
        "created_at": ["2024-01-01"] * 6,
        "industry": ['=HYPERLINK("http://x.example","click")', "-3.5", "\tcmd", "saas", "retail", "+"],
    })
    events = pd.DataFrame({"lead_id": ["L4"], "ts": ["2024-02-01"], "event_type": ["page_view"]})
    data = write_contract_tables(tmp_path / "d", leads=leads, events=events,
                                 outcomes=pd.DataFrame(columns=["lead_id", "stage", "reached_at"]))
    assert features(data, tmp_path / "f.csv").exit_code == 0
    assert features(data, tmp_path / "f.parquet").exit_code == 0
    as_text = pd.read_csv(tmp_path / "f.csv", dtype=str, keep_default_na=False).set_index("lead_id")
    assert sorted(as_text.index) == sorted(["'=1+1", "'@SUM(A1)", "'+33 1 23", "-5", "L4", "L5"])
    assert as_text.loc["'=1+1", "industry"] == '\'=HYPERLINK("http://x.example","click")'
    assert as_text.loc["-5", "industry"] == "saas"  # a number written as text is left alone
    assert as_text.loc["'@SUM(A1)", "industry"] == "-3.5"
    assert as_text.loc["L5", "industry"] == "'+"
    parquet = pd.read_parquet(tmp_path / "f.parquet").set_index("lead_id")
    assert parquet.loc["=1+1", "industry"] == '=HYPERLINK("http://x.example","click")'
    assert parquet.loc["+33 1 23", "industry"] == "\tcmd"


def test_neutralise_formulas_leaves_numbers_and_missing_values():
    frame = pd.DataFrame({"x": ["=a", None, "-1e5", "b"], "n": [-1.0, 2.0, 3.0, float("nan")]})
    out = neutralise_formulas(frame)
    values = out["x"].tolist()
    assert values[0] == "'=a" and pd.isna(values[1]) and values[2:] == ["-1e5", "b"]
    assert out["n"].equals(frame["n"]) and frame["x"].tolist()[0] == "=a"


def test_csv_written_reads_back_as_the_same_values(tmp_path):
    frame = pd.DataFrame({
        "lead_id": ["a,1", 'say "hi"', "two\nlines", "plain"],
        "p_sql": [7.938861796163987e-05, 0.5, float("nan"), 1 / 3],
        "score": [0, 50, 100, 33],
        "reasons": ["visits=3 (+)", None, "", "x=1 (-); y=missing (+)"],
        "visits_7d": [3.0, 0.0, 12.0, -0.0],  # whole numbers, still floats
    })
    out = tmp_path / "s.csv"
    write_csv(frame, out)
    back = pd.read_csv(out, keep_default_na=False, na_values={"p_sql": [""]})
    assert back["lead_id"].tolist() == ["a,1", 'say "hi"', "two\nlines", "plain"]
    np.testing.assert_array_equal(back["p_sql"].to_numpy(), frame["p_sql"].to_numpy())
    assert back["score"].tolist() == [0, 50, 100, 33]
    assert back["reasons"].tolist() == ["visits=3 (+)", "", "", "x=1 (-); y=missing (+)"]
    assert back["visits_7d"].dtype == np.float64 and back["visits_7d"].tolist() == [3.0, 0.0, 12.0, 0.0]
    flags = tmp_path / "flags.csv"
    write_csv(pd.DataFrame({"open": [True, False], "day": pd.to_datetime(["2026-01-02", "2026-01-03"])}), flags)
    assert flags.read_text().splitlines() == ["open,day", "True,2026-01-02", "False,2026-01-03"]
