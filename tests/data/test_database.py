"""Database sources (leadq.data.database): URLs and their redaction, DuckDB files and a real
PostgreSQL server read through the same loader policy as a data folder."""

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from postgres_server import copy_tables
from typer.testing import CliRunner

from leadq.cli import app
from leadq.config import config_to_yaml, parse_config
from leadq.core.errors import BadInputError
from leadq.data.database import (
    data_location,
    is_database_url,
    parse_database_url,
    redact_url,
    table_identifier,
)
from leadq.data.load import load_data
from leadq.steps.generate import generate_to_dir
from leadq.steps.train import resolve_data_dir

runner = CliRunner()
CUTOFF = "2026-05-01"


# --- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("postgresql://scoring:s3cret@db.internal:5432/crm", "postgresql://scoring@db.internal:5432/crm"),
    ("postgres://scoring:s3cret@db/crm?sslmode=require&password=x2",
     "postgres://scoring@db/crm?sslmode=require"),
    ("postgresql://scoring:${LEADQ_DB_PASSWORD}@db/crm", "postgresql://scoring:${LEADQ_DB_PASSWORD}@db/crm"),
    ("postgresql:///crm", "postgresql:///crm"),
    ("postgresql://scoring@db/crm", "postgresql://scoring@db/crm"),
    ("duckdb:///data/crm.duckdb", "duckdb:///data/crm.duckdb"),
    ("data/demo", "data/demo"),
])
def test_redacted_url_keeps_everything_but_a_literal_password(url, shown):
    assert redact_url(url) == shown


def test_database_urls_are_told_from_folders_and_keep_their_slashes():
    assert is_database_url("postgresql://h/db") and is_database_url("POSTGRES://h/db")
    assert is_database_url("duckdb:///x.duckdb")
    assert not is_database_url("data/demo") and not is_database_url(None)
    assert data_location("duckdb:////srv/x.duckdb") == "duckdb:////srv/x.duckdb"
    assert str(data_location("data/demo")) == "data/demo"


def test_duckdb_url_paths_follow_sqlite_uri_rules():
    assert str(parse_database_url("duckdb:///data/crm.duckdb").duckdb_path()) == "data/crm.duckdb"
    assert str(parse_database_url("duckdb:////srv/crm.duckdb").duckdb_path()) == "/srv/crm.duckdb"
    with pytest.raises(BadInputError, match="duckdb:///relative"):
        parse_database_url("duckdb://crm.duckdb")


def test_environment_references_are_expanded_encoded_and_never_shown(monkeypatch):
    monkeypatch.setenv("LEADQ_TEST_PASSWORD", "p@ss/w:rd")
    url = parse_database_url("postgresql://scoring:${LEADQ_TEST_PASSWORD}@db/crm")
    assert url.connect_uri() == "postgresql://scoring:p%40ss%2Fw%3Ard@db/crm"
    assert "p@ss" not in url.redacted
    monkeypatch.delenv("LEADQ_TEST_PASSWORD")
    with pytest.raises(BadInputError, match="environment variable LEADQ_TEST_PASSWORD is not set"):
        url.connect_uri()


@pytest.mark.parametrize("name, expected", [("events", (None, "events")), ("crm.web_events", ("crm", "web_events"))])
def test_table_names_are_plain_identifiers(name, expected):
    assert table_identifier(name, "src") == expected


@pytest.mark.parametrize("name", ["events; DROP TABLE leads", "a.b.c", "1events", 'ev"ents', "x" * 64, ""])
def test_anything_else_is_refused_before_reaching_sql(name):
    with pytest.raises(BadInputError, match="must be NAME or SCHEMA.NAME"):
        table_identifier(name, "src")


def test_logged_config_has_no_password():
    config = parse_config({"data": {"dir": "postgresql://scoring:s3cret@db/crm"}}, "test")
    logged = yaml.safe_load(config_to_yaml(config))
    assert logged["data"]["dir"] == "postgresql://scoring@db/crm"


# --- the same small data set from a folder, a DuckDB file and PostgreSQL ----------------------

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """300 generated leads as Parquet."""
    path = tmp_path_factory.mktemp("db_source") / "data"
    generate_to_dir(path, n_leads=300, seed=11)
    return path


def frames(folder) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(folder / f"{t}.parquet") for t in ("leads", "events", "outcomes")}


def write_duckdb(path, tables: dict[str, pd.DataFrame]) -> str:
    con = duckdb.connect(str(path))
    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    for name, frame in tables.items():
        schema, _, table = name.rpartition(".")
        if schema:  # named with the catalog: a schema named like the file is not ambiguous
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{catalog}"."{schema}"')
        con.register("frame", frame)
        qualified = f'"{catalog}".{name}' if schema else name
        con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM frame")
        con.unregister("frame")
    con.close()
    return f"duckdb:///{path}"


def features(data: str, tmp_path, *extra) -> pd.DataFrame:
    out = tmp_path / f"features_{abs(hash(data))}.parquet"
    result = runner.invoke(app, ["features", "--data", data, "--as-of", CUTOFF, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


def test_duckdb_file_gives_the_folders_features(folder, tmp_path):
    url = write_duckdb(tmp_path / "crm.duckdb", frames(folder))
    from_folder = features(str(folder), tmp_path)
    assert len(from_folder) > 100
    pd.testing.assert_frame_equal(features(url, tmp_path), from_folder)


def test_postgres_gives_the_folders_features_and_fingerprint(folder, tmp_path, pg_url):
    copy_tables(pg_url, frames(folder))
    pd.testing.assert_frame_equal(features(pg_url, tmp_path), features(str(folder), tmp_path))
    from_pg, from_folder = load_data(pg_url), load_data(folder)
    for table in ("leads", "events", "outcomes"):
        pg_print, folder_print = from_pg.fingerprint()[table], from_folder.fingerprint()[table]
        assert pg_print.pop("source") == f"{pg_url}, table {table}"
        folder_print.pop("source")
        assert pg_print == folder_print


def test_mapping_names_tables_and_queries_in_both_databases(folder, tmp_path, pg_url):
    """Renamed columns in another schema, and events filtered at the source by a query."""
    tables = frames(folder)
    leads = tables["leads"].rename(columns={"lead_id": "contact_id", "created_at": "signup_at"})
    touches = tables["events"].rename(columns={"lead_id": "contact_id", "ts": "occurred_at"})
    mapping = {
        "tables": {"leads": "crm.contacts", "events": {"query": "SELECT * FROM web.touches WHERE channel IS DISTINCT FROM 'email'"},
                   "outcomes": "crm.stages"},
        "columns": {"leads": {"lead_id": "contact_id", "created_at": "signup_at"},
                    "events": {"lead_id": "contact_id", "ts": "occurred_at"}},
    }
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping))
    expected_folder = tmp_path / "filtered"
    expected_folder.mkdir()
    tables["leads"].to_parquet(expected_folder / "leads.parquet")
    tables["events"][tables["events"]["channel"] != "email"].to_parquet(expected_folder / "events.parquet")
    tables["outcomes"].to_parquet(expected_folder / "outcomes.parquet")
    expected = features(str(expected_folder), tmp_path)
    assert len(tables["events"]) > (tables["events"]["channel"] != "email").sum() > 0

    source_tables = {"crm.contacts": leads, "web.touches": touches, "crm.stages": tables["outcomes"]}
    copy_tables(pg_url, source_tables)
    duck_url = write_duckdb(tmp_path / "crm.duckdb", source_tables)
    for url in (pg_url, duck_url):
        pd.testing.assert_frame_equal(features(url, tmp_path, "--mapping", str(mapping_path)), expected)


def test_the_example_warehouse_mapping_reads_a_warehouse(folder, tmp_path):
    """pipelines/sources/warehouse.yaml against a DuckDB file laid out as it describes."""
    tables = frames(folder)
    contacts = tables["leads"].rename(columns={"lead_id": "contact_id", "created_at": "signup_at"})
    touches = tables["events"].rename(columns={"lead_id": "contact_id", "ts": "occurred_at", "event_type": "action",
                                               "duration_s": "seconds", "content_id": "asset_id"})
    internal = touches.head(40).assign(action="internal_test")  # filtered out by the mapping's query
    stages = tables["outcomes"].rename(columns={"lead_id": "contact_id"})
    url = write_duckdb(tmp_path / "warehouse.duckdb", {
        "crm.contacts": contacts, "web.touches": pd.concat([touches, internal]), "crm.lifecycle_stages": stages})
    mapping = Path(__file__).resolve().parents[2] / "pipelines" / "sources" / "warehouse.yaml"
    expected = features(str(folder), tmp_path)
    got = features(url, tmp_path, "--mapping", str(mapping))
    # The query leaves out `channel`, which no default feature uses.
    pd.testing.assert_frame_equal(got, expected)


def test_rules_score_reads_a_database_like_a_folder(folder, tmp_path):
    url = write_duckdb(tmp_path / "crm.duckdb", frames(folder))
    rules = Path(__file__).resolve().parents[2] / "pipelines" / "rules" / "default.yaml"
    outs = {}
    for name, data in (("folder", str(folder)), ("duckdb", url)):
        outs[name] = tmp_path / f"rules_{name}.csv"
        result = runner.invoke(app, ["rules", "score", "--rules", str(rules), "--data", data, "--as-of", CUTOFF,
                                     "--out", str(outs[name])])
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(outs["duckdb"]), pd.read_csv(outs["folder"]))


def test_a_config_data_dir_url_reaches_the_loader_intact():
    config = parse_config({"data": {"dir": "postgresql://scoring@db.internal:5432/crm"}}, "test")
    assert resolve_data_dir(None, config) == "postgresql://scoring@db.internal:5432/crm"
    assert resolve_data_dir("duckdb:////srv/crm.duckdb", config) == "duckdb:////srv/crm.duckdb"
    assert resolve_data_dir("data/demo", config) == Path("data/demo")


def test_a_query_in_the_mapping_needs_a_database(folder, tmp_path):
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump({"tables": {"events": {"query": "SELECT 1"}}}))
    result = runner.invoke(app, ["features", "--data", str(folder), "--as-of", CUTOFF,
                                 "--out", str(tmp_path / "f.csv"), "--mapping", str(mapping_path)])
    assert result.exit_code == 2
    assert "queries need a database source" in result.stderr


# --- credentials ------------------------------------------------------------------------------

def test_password_from_url_or_environment_never_shows(folder, tmp_path, pg_url, postgres_server, monkeypatch):
    copy_tables(pg_url, frames(folder))
    database = pg_url.rsplit("/", 1)[1]
    with_password = postgres_server.url(database, password="s3cret")
    data = load_data(with_password)
    assert "s3cret" not in str(data.fingerprint()) and "s3cret" not in str(data.sources)

    monkeypatch.setenv("LEADQ_TEST_PASSWORD", "s3cret")
    by_reference = load_data(pg_url.replace("leadq@", "leadq:${LEADQ_TEST_PASSWORD}@"))
    assert by_reference.fingerprint()["events"]["hash"] == data.fingerprint()["events"]["hash"]

    # libpq's PG* variables fill in what the URL leaves out.
    for name, value in (("PGHOST", "127.0.0.1"), ("PGPORT", str(postgres_server.port)), ("PGUSER", "leadq")):
        monkeypatch.setenv(name, value)
    assert load_data(f"postgresql:///{database}").count("events") == len(data.events)


def test_unreachable_server_is_one_line_without_the_password(tmp_path, postgres_server):
    url = f"postgresql://leadq:s3cret@127.0.0.1:{postgres_server.port + 1 if postgres_server.port < 65535 else 1}/x"
    result = runner.invoke(app, ["features", "--data", url, "--as-of", CUTOFF, "--out", str(tmp_path / "f.csv")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0] and "s3cret" not in result.output
    assert "Traceback" not in result.output and not (tmp_path / "f.csv").exists()


# --- the bad-input policy, whatever the source ------------------------------------------------

def policy_tables(bad_ts: int = 0, duplicate_ids: int = 0) -> dict[str, pd.DataFrame]:
    """200 leads, 1000 text-typed events (`bad_ts` of them with an unparseable ts), 2 outcomes."""
    n = 200
    ids = [f"L{i}" for i in range(n)]
    ids[1:1 + duplicate_ids] = ["L0"] * duplicate_ids
    leads = pd.DataFrame({"lead_id": ids, "created_at": ["2024-01-01 08:00"] * n})
    events = pd.DataFrame({
        "lead_id": [f"L{i % n}" for i in range(1000)],
        "ts": [f"2024-02-{1 + i % 27:02d} 10:00" for i in range(1000)],
        "event_type": ["page_view", "pricing_view"] * 500,
    })
    events.loc[:bad_ts - 1, "ts"] = "not a time"
    outcomes = pd.DataFrame({"lead_id": ["L1", "L2"], "stage": ["mql", "sql"],
                             "reached_at": ["2024-02-10", "2024-02-12"]})
    return {"leads": leads, "events": events, "outcomes": outcomes}


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
@pytest.mark.parametrize("problem, needles", [
    ({"bad_ts": 50}, ["table events", "column 'ts' has 50 of 1000 rows missing or unparseable (5.0%, limit 1.0%)"]),
    ({"duplicate_ids": 3}, ["table leads", "column 'lead_id' has 3 duplicate lead ids (4 rows share an id)"]),
])
def test_fatal_problems_are_the_same_one_line(kind, problem, needles, tmp_path, request):
    tables = policy_tables(**problem)
    if kind == "postgresql":
        url = request.getfixturevalue("pg_url")
        copy_tables(url, tables)
    else:
        url = write_duckdb(tmp_path / "bad.duckdb", tables)
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["features", "--data", url, "--as-of", "2024-03-01", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {url}, "), lines
    for needle in needles:
        assert needle in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_a_few_bad_rows_are_reported_and_dropped_as_from_files(kind, tmp_path, request):
    tables = policy_tables(bad_ts=5)
    if kind == "postgresql":
        url = request.getfixturevalue("pg_url")
        copy_tables(url, tables)
    else:
        url = write_duckdb(tmp_path / "few.duckdb", tables)
    data = load_data(url, clock="2024-03-01")
    assert data.report == [f"{url}, table events: dropped 5 rows with a missing or unparseable 'ts'"]
    assert len(data.events) == 995


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_missing_table_is_one_line(kind, tmp_path, request):
    tables = policy_tables()
    del tables["outcomes"]
    if kind == "postgresql":
        url = request.getfixturevalue("pg_url")
        copy_tables(url, tables)
    else:
        url = write_duckdb(tmp_path / "part.duckdb", tables)
    with pytest.raises(BadInputError, match=r"table outcomes: table not found for 'outcomes' \(0 rows\)"):
        load_data(url)


def test_missing_duckdb_file_is_one_line(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        load_data(f"duckdb:///{tmp_path}/nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()


# --- end to end: a trained model scoring the same data from each source -----------------------

@pytest.mark.slow
def test_same_data_from_parquet_duckdb_and_postgres_gives_identical_features_and_scores(trained, tmp_path, pg_url):
    tables = frames(trained.data_dir)
    copy_tables(pg_url, tables)
    duck_url = write_duckdb(tmp_path / "crm.duckdb", tables)
    sources = {"parquet": str(trained.data_dir), "duckdb": duck_url, "postgresql": pg_url}

    built = {name: features(url, tmp_path) for name, url in sources.items()}
    scores = {}
    for name, url in sources.items():
        out = tmp_path / f"scores_{name}.parquet"
        result = runner.invoke(app, ["predict", "--data", url, "--out", str(out), "--as-of", "2026-06-01",
                                     "--tracking-uri", trained.tracking_uri])
        assert result.exit_code == 0, result.output
        scores[name] = pd.read_parquet(out).drop(columns="scored_at")
        report = json.loads(out.with_name(out.name + ".report.json").read_text())
        scores[name + " psi"] = pd.Series(report["psi"])
    assert len(built["parquet"]) > 1000 and scores["parquet"]["p_sql"].notna().sum() > 1000
    for name in ("duckdb", "postgresql"):
        pd.testing.assert_frame_equal(built[name], built["parquet"])
        pd.testing.assert_frame_equal(scores[name], scores["parquet"])
        pd.testing.assert_series_equal(scores[name + " psi"], scores["parquet psi"])
