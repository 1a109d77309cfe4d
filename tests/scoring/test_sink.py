"""Database sinks (leadq.scoring.sink): typed tables, one night replaced in one transaction,
incompatible tables refused, and a writer killed mid-write leaving readers the previous night."""

import json
import threading
import time

import duckdb
import numpy as np
import pandas as pd
import pytest
from postgres_server import query
from typer.testing import CliRunner

from leadq.cli import app
from leadq.core.errors import BadInputError, OutputError
from leadq.scoring.sink import parse_sink, write_scores

runner = CliRunner()
NIGHT_1 = "2026-06-01T00:00:00+00:00"
NIGHT_2 = "2026-06-02T00:00:00+00:00"
SCORED_AT = "2026-06-02T02:30:00.123456+00:00"


def night(as_of: str, version: str, leads: list[str], p_sql: list[float]) -> tuple[pd.DataFrame, dict]:
    """A scored table shaped like `leadq predict`'s, and its drift report."""
    n = len(leads)
    scored = pd.DataFrame({
        "lead_id": leads,
        "current_stage": ["mql"] + ["lead"] * (n - 1),
        "p_mql": [np.nan] + [0.5] * (n - 1),  # the first lead already reached MQL
        "p_sql": p_sql,
        "score": [round(100 * p) for p in p_sql],
        "stage": ["SQL" if p >= 0.4 else "nurture" for p in p_sql],
        "reasons": ["pricing_view_30d=4 (+)"] * n,
        "model_name": "lead-quality",
        "model_version": version,
        "as_of": as_of,
        "scored_at": SCORED_AT,
    })
    report = {
        "leads_scored": n, "as_of": as_of, "scored_at": SCORED_AT, "model_uri": "models:/lead-quality@champion",
        "model_version": version, "engine": "duckdb", "stage_share": {"SQL": 0.25, "nurture": 0.75},
        "psi": {"p_sql": 0.05, "sessions_all": 0.31, "company_size": 0.12}, "psi_warning_level": 0.2,
        "warnings": ["drift: PSI of sessions_all is 0.310 (over 0.2) against the training data"],
        "data_report": ["events.parquet: dropped 2 events for unknown leads (column 'lead_id')"],
    }
    return scored, report


@pytest.fixture(params=["duckdb", "postgresql"])
def sink_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"duckdb:///{tmp_path}/scores.duckdb"


def read(url: str, sql: str) -> pd.DataFrame:
    if url.startswith("duckdb"):
        con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
        try:
            return con.execute(sql).df()
        finally:
            con.close()
    return query(url, sql)


def column_types(url: str, table: str) -> dict[str, str]:
    rows = read(url, "SELECT column_name, data_type FROM information_schema.columns "
                     f"WHERE table_name = '{table}' ORDER BY ordinal_position")
    return dict(zip(rows["column_name"], rows["data_type"].str.lower()))


def test_first_night_creates_typed_tables_holding_the_scores(sink_url):
    scored, report = night(NIGHT_1, "3", ["L1", "L2", "L3", "L4"], [0.10, 0.45, 0.2, 0.9])
    assert write_scores(parse_sink(sink_url), scored, report) == 4

    types = column_types(sink_url, "lead_scores")
    text = "varchar" if sink_url.startswith("duckdb") else "text"
    double = "double" if sink_url.startswith("duckdb") else "double precision"
    assert types == {"lead_id": text, "current_stage": text, "p_mql": double, "p_sql": double,
                     "score": "integer", "stage": text, "reasons": text, "model_name": text, "model_version": text,
                     "as_of": "timestamp with time zone", "scored_at": "timestamp with time zone"}
    rows = read(sink_url, "SELECT * FROM lead_scores ORDER BY lead_id")
    assert list(rows["lead_id"]) == ["L1", "L2", "L3", "L4"]
    assert rows["p_mql"].isna().tolist() == [True, False, False, False]
    assert list(rows["p_sql"]) == [0.10, 0.45, 0.2, 0.9]
    assert list(rows["score"]) == [10, 45, 20, 90]
    assert list(rows["stage"]) == ["nurture", "SQL", "nurture", "SQL"]
    assert (pd.to_datetime(rows["as_of"], utc=True) == pd.Timestamp(NIGHT_1)).all()
    assert (pd.to_datetime(rows["scored_at"], utc=True) == pd.Timestamp(SCORED_AT)).all()

    summary = read(sink_url, "SELECT * FROM lead_scores_report")
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["model_version"] == "3" and row["model_name"] == "lead-quality"
    assert row["leads_scored"] == 4 and row["engine"] == "duckdb"
    assert row["score_psi"] == 0.05 and row["max_feature_psi"] == 0.31 and row["drift_warnings"] == 1
    assert json.loads(row["stage_share"]) == {"SQL": 0.25, "nurture": 0.75}
    assert json.loads(row["warnings"]) == report["warnings"] + report["data_report"]
    assert json.loads(row["report"])["psi"] == report["psi"]


def test_rerunning_a_night_replaces_that_night_and_nothing_else(sink_url):
    target = parse_sink(sink_url)
    write_scores(target, *night(NIGHT_1, "3", ["L1", "L2", "L3"], [0.1, 0.2, 0.3]))
    write_scores(target, *night(NIGHT_2, "3", ["L1", "L2"], [0.4, 0.5]))
    write_scores(target, *night(NIGHT_1, "4", ["L1", "L2"], [0.6, 0.7]))  # a challenger, same night
    write_scores(target, *night(NIGHT_1, "3", ["L2", "L5"], [0.25, 0.8]))  # night 1 again

    rows = read(sink_url, "SELECT lead_id, model_version, as_of, p_sql FROM lead_scores "
                          "ORDER BY as_of, model_version, lead_id")
    rows["as_of"] = pd.to_datetime(rows["as_of"], utc=True).map(lambda t: t.isoformat())
    assert rows.values.tolist() == [
        ["L2", "3", NIGHT_1, 0.25], ["L5", "3", NIGHT_1, 0.8],
        ["L1", "4", NIGHT_1, 0.6], ["L2", "4", NIGHT_1, 0.7],
        ["L1", "3", NIGHT_2, 0.4], ["L2", "3", NIGHT_2, 0.5],
    ]
    summary = read(sink_url, "SELECT model_version, leads_scored FROM lead_scores_report ORDER BY as_of, model_version")
    assert summary.values.tolist() == [["3", 2], ["4", 2], ["3", 2]]


CREATE_INCOMPATIBLE = {
    "score as text": ("score", "CREATE TABLE lead_scores (lead_id text, current_stage text, p_mql double precision, "
                               "p_sql double precision, score text, stage text, reasons text, model_name text, "
                               "model_version text, as_of timestamp with time zone, scored_at timestamp with time zone)"),
    "no p_sql": ("p_sql", "CREATE TABLE lead_scores (lead_id text, current_stage text, p_mql double precision, "
                          "score integer, stage text, reasons text, model_name text, model_version text, "
                          "as_of timestamp with time zone, scored_at timestamp with time zone)"),
    "a required column": ("owner", "CREATE TABLE lead_scores (lead_id text, current_stage text, p_mql double precision, "
                                   "p_sql double precision, score integer, stage text, reasons text, model_name text, "
                                   "model_version text, as_of timestamp with time zone, "
                                   "scored_at timestamp with time zone, owner text NOT NULL)"),
}


def execute(url: str, *statements: str) -> None:
    if url.startswith("duckdb"):
        con = duckdb.connect(url.removeprefix("duckdb:///"))
        for sql in statements:
            con.execute(sql.replace("double precision", "DOUBLE").replace("text", "VARCHAR"))
        con.close()
    else:
        for sql in statements:
            query(url, sql)


@pytest.mark.parametrize("problem", list(CREATE_INCOMPATIBLE))
def test_an_incompatible_table_is_one_line_and_nothing_is_written(sink_url, problem):
    column, create = CREATE_INCOMPATIBLE[problem]
    execute(sink_url, create)
    with pytest.raises(BadInputError) as error:
        write_scores(parse_sink(sink_url), *night(NIGHT_1, "3", ["L1", "L2"], [0.1, 0.2]))
    message = error.value.message
    assert f"column '{column}'" in message and "table " in message and "\n" not in message
    assert read(sink_url, "SELECT count(*) AS n FROM lead_scores")["n"][0] == 0
    assert column_types(sink_url, "lead_scores_report") == {}


def test_a_compatible_table_is_written_into(sink_url):
    """Wider integers and an extra nullable column are fine."""
    create = CREATE_INCOMPATIBLE["score as text"][1].replace("score text", "score bigint").replace(
        "scored_at timestamp with time zone)", "scored_at timestamp with time zone, synced_at text)")
    execute(sink_url, create)
    write_scores(parse_sink(sink_url), *night(NIGHT_1, "3", ["L1", "L2"], [0.1, 0.2]))
    rows = read(sink_url, "SELECT lead_id, score, synced_at FROM lead_scores ORDER BY lead_id")
    assert rows["score"].tolist() == [10, 20] and rows["synced_at"].isna().all()


def test_a_table_in_another_schema(sink_url):
    execute(sink_url, "CREATE SCHEMA analytics")
    write_scores(parse_sink(sink_url, "analytics.nightly"), *night(NIGHT_1, "3", ["L1"], [0.1]))
    assert read(sink_url, "SELECT count(*) AS n FROM analytics.nightly")["n"][0] == 1
    assert read(sink_url, "SELECT count(*) AS n FROM analytics.nightly_report")["n"][0] == 1


def test_a_failure_after_the_scores_are_written_rolls_everything_back(sink_url):
    """The report row is refused (a CHECK the summary breaks) after the night's score rows were
    deleted and inserted: the previous rows stay, the new ones never show."""
    target = parse_sink(sink_url)
    write_scores(target, *night(NIGHT_1, "3", ["L1", "L2", "L3"], [0.1, 0.2, 0.3]))
    if not sink_url.startswith("duckdb"):
        execute(sink_url, "ALTER TABLE lead_scores_report ADD CONSTRAINT small CHECK (leads_scored <> 4)")
    else:  # DuckDB cannot add a constraint to a table: rebuild it with one
        con = duckdb.connect(target.url.duckdb_path().as_posix())
        ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'lead_scores_report'").fetchall()[0][0]
        con.execute("CREATE TABLE kept AS SELECT * FROM lead_scores_report")
        con.execute("DROP TABLE lead_scores_report")
        con.execute(ddl.replace("PRIMARY KEY", "CHECK (leads_scored <> 4), PRIMARY KEY"))
        con.execute("INSERT INTO lead_scores_report SELECT * FROM kept")
        con.close()
    with pytest.raises(OutputError, match="nothing written") as error:
        write_scores(target, *night(NIGHT_1, "3", ["L4", "L5", "L6", "L7"], [0.5, 0.6, 0.7, 0.8]))
    assert error.value.exit_code == 6
    assert read(sink_url, "SELECT lead_id FROM lead_scores ORDER BY lead_id")["lead_id"].tolist() == ["L1", "L2", "L3"]


def test_a_writer_killed_mid_write_leaves_readers_the_previous_night(pg_url):
    """The writer is held inside its transaction (the night's score rows already replaced, the
    report table locked by the test), its connection is terminated from outside, and readers
    before and after see exactly the previous night."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    target = parse_sink(pg_url)
    write_scores(target, *night(NIGHT_1, "3", ["L1", "L2", "L3"], [0.1, 0.2, 0.3]))
    tonight = night(NIGHT_2, "3", [f"N{i}" for i in range(5000)], [0.5] * 5000)

    blocker = adbc_pg.connect(pg_url)  # a transaction holding the report table
    blocker.cursor().execute("LOCK TABLE lead_scores_report IN ACCESS EXCLUSIVE MODE")
    failures = []

    def writer():
        try:
            write_scores(target, *tonight)
        except Exception as exc:  # noqa: BLE001 - the test inspects what the writer raised
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        waiting = None
        for _ in range(300):  # up to 30 s for the writer to reach the report table
            found = query(pg_url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND query LIKE 'DELETE FROM%lead_scores_report%'")
            if len(found):
                waiting = int(found["pid"][0])
                break
            time.sleep(0.1)
        assert waiting is not None, "the writer never reached the report table"
        during = query(pg_url, "SELECT lead_id FROM lead_scores ORDER BY lead_id")["lead_id"].tolist()
        assert during == ["L1", "L2", "L3"]
        assert query(pg_url, f"SELECT pg_terminate_backend({waiting}) AS killed")["killed"][0]
        thread.join(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], OutputError), failures
    assert "nothing written" in failures[0].message, failures[0].message
    after = query(pg_url, "SELECT lead_id, as_of FROM lead_scores ORDER BY lead_id")
    assert after["lead_id"].tolist() == ["L1", "L2", "L3"]
    assert (pd.to_datetime(after["as_of"], utc=True) == pd.Timestamp(NIGHT_1)).all()
    assert query(pg_url, "SELECT count(*) AS n FROM lead_scores_report")["n"][0] == 1


@pytest.mark.parametrize("table", ["lead scores", "x;drop table leads", "a.b.c", "t" * 60])
def test_bad_out_table_names_stop_before_any_work(table):
    with pytest.raises(BadInputError, match="--out-table"):
        parse_sink("duckdb:///x.duckdb", table)


def test_out_table_needs_a_database_out(tmp_path):
    result = runner.invoke(app, ["predict", "--data", str(tmp_path), "--out", str(tmp_path / "s.csv"),
                                 "--out-table", "lead_scores"])
    assert result.exit_code == 2
    assert "--out-table needs a database --out" in result.stderr


@pytest.mark.slow
def test_nightly_predict_into_postgres_twice_keeps_one_row_per_open_lead(trained, tmp_path, pg_url):
    """`leadq predict --out postgresql://... --out-table lead_scores`, run twice for the same night:
    the table holds the file output's rows once, typed, and the summary one row."""
    file_out = tmp_path / "scores.parquet"
    common = ["--data", str(trained.data_dir), "--as-of", "2026-06-01", "--tracking-uri", trained.tracking_uri]
    assert runner.invoke(app, ["predict", *common, "--out", str(file_out)]).exit_code == 0
    expected = pd.read_parquet(file_out).drop(columns="scored_at").sort_values("lead_id", ignore_index=True)

    secret_url = pg_url.replace("leadq@", "leadq:s3cret@")
    for _ in range(2):
        result = runner.invoke(app, ["predict", *common, "--out", secret_url, "--out-table", "lead_scores"])
        assert result.exit_code == 0, result.output
        assert f"written to {pg_url}, table lead_scores; drift report lead_scores_report" in result.stdout
        assert "s3cret" not in result.output
    rows = query(pg_url, "SELECT * FROM lead_scores ORDER BY lead_id")
    assert len(rows) == len(expected) > 1000 and rows["lead_id"].is_unique
    assert (pd.to_datetime(rows["as_of"], utc=True) == pd.Timestamp("2026-06-01", tz="UTC")).all()
    rows = rows.drop(columns="scored_at").assign(as_of=expected["as_of"])
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)
    summary = query(pg_url, "SELECT leads_scored, model_version FROM lead_scores_report")
    assert summary.values.tolist() == [[len(expected), expected["model_version"][0]]]
