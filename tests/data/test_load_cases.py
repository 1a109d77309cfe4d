"""The loader's own decisions on tiny hand-made tables (in memory, no CLI): the history's end,
the fingerprint, the validated frames and event arrays, each against values worked out by hand."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadq.core.errors import BadInputError
from leadq.data.load import connect, load_frames
from leadq.data.mapping import DataMapping

CLOCK = pd.Timestamp("2024-03-01 12:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _frames(events_ts=(), outcomes_at=()):
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": [CLOCK - 30 * DAY, CLOCK - 20 * DAY]})
    events = pd.DataFrame({"lead_id": ["a"] * len(events_ts), "ts": list(events_ts),
                           "event_type": ["page_view"] * len(events_ts)})
    outcomes = pd.DataFrame({"lead_id": ["b"] * len(outcomes_at), "stage": ["mql"] * len(outcomes_at),
                             "reached_at": list(outcomes_at)})
    return leads, events.astype({"ts": "datetime64[us, UTC]"}), outcomes.astype({"reached_at": "datetime64[us, UTC]"})


@pytest.mark.parametrize(("events_ts", "outcomes_at", "end"), [
    ([CLOCK - 9 * DAY, CLOCK - 5 * DAY], [CLOCK - 2 * DAY], CLOCK - 2 * DAY),  # an outcome is the latest
    ([CLOCK - 9 * DAY, CLOCK - 1 * DAY], [CLOCK - 2 * DAY], CLOCK - 1 * DAY),  # an event is the latest
    ([], [CLOCK - 3 * DAY], CLOCK - 3 * DAY),
    ([CLOCK - 4 * DAY], [], CLOCK - 4 * DAY),
    ([], [], None),
])
def test_the_history_ends_at_the_latest_event_or_outcome(events_ts, outcomes_at, end):
    data = load_frames(*_frames(events_ts, outcomes_at), clock=CLOCK)
    assert data.history_end() == end
    if end is not None:
        assert str(data.history_end().tz) == "UTC"


def test_the_fingerprint_by_hand():
    leads, events, outcomes = _frames([CLOCK - 9 * DAY, CLOCK - 5 * DAY], [])
    fingerprint = load_frames(leads, events, outcomes, clock=CLOCK).fingerprint()
    hashes = {table: fingerprint[table].pop("hash") for table in fingerprint}
    assert fingerprint == {
        "leads": {"rows": 2, "leads": 2, "first": "2024-01-31T12:00:00+00:00", "last": "2024-02-10T12:00:00+00:00",
                  "source": "<leads frame>"},
        "events": {"rows": 2, "leads": 1, "first": "2024-02-21T12:00:00+00:00", "last": "2024-02-25T12:00:00+00:00",
                   "source": "<events frame>"},
        "outcomes": {"rows": 0, "leads": 0, "first": None, "last": None, "source": "<outcomes frame>"},
    }
    assert hashes["outcomes"] == "0" * 16 and all(len(h) == 16 and int(h, 16) for h in (hashes["leads"], hashes["events"]))
    # order-independent, but any value changes it
    again = load_frames(leads[::-1], events[::-1], outcomes, clock=CLOCK).fingerprint()
    assert {t: again[t]["hash"] for t in again} == hashes
    moved = events.assign(ts=events["ts"] + pd.to_timedelta([0, 1], unit="s"))
    assert load_frames(leads, moved, outcomes, clock=CLOCK).fingerprint()["events"]["hash"] != hashes["events"]
    renamed = leads.assign(lead_id=["a", "c"])
    assert load_frames(renamed, events, outcomes, clock=CLOCK).fingerprint()["leads"]["hash"] != hashes["leads"]


def test_a_connection_is_utc_keeps_no_insertion_order_and_takes_a_memory_limit_and_threads():
    def settings(con):
        return dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                "('TimeZone', 'memory_limit', 'threads', 'preserve_insertion_order')").fetchall())

    assert settings(connect(" 512MiB ", threads=1)) == {
        "TimeZone": "UTC", "preserve_insertion_order": "false", "memory_limit": "512.0 MiB", "threads": "1"}
    assert settings(connect("1 GiB"))["memory_limit"] == "1.0 GiB"
    assert settings(connect())["TimeZone"] == "UTC"
    for size in ("lots", "4G", "GB", "1e9B", "512MiB; SET threads=1"):
        with pytest.raises(BadInputError) as caught:
            connect(size)
        assert caught.value.message == f"memory limit '{size}' is not a size such as 4GB or 512MiB"


def test_the_events_as_arrays_and_as_a_frame():
    leads = pd.DataFrame({"lead_id": ["b", "a", "c"], "created_at": [CLOCK - 30 * DAY] * 3})
    events = pd.DataFrame({
        "lead_id": ["a", " b ", "b", "zz"],
        "ts": [CLOCK - 5 * DAY, CLOCK - 4 * DAY, CLOCK - 3 * DAY, CLOCK - 2 * DAY],
        "event_type": ["page_view", "form_submit", "page_view", "page_view"],
        "duration_s": [12.5, None, 30.0, 1.0],
        "page": ["/pricing", None, "/pricing", "/x"],
        "content_id": [None, "ebook", "", "e"],
    })
    data = load_frames(leads, events, _frames()[2], mapping=DataMapping(max_bad_fraction=0.5), clock=CLOCK)
    assert data.report == ["<events frame>: dropped 1 events for unknown leads (column 'lead_id')"]
    assert data.event_columns == ["duration_s", "page", "content_id"]
    arrays = data.events
    order = np.argsort(arrays.us)
    assert len(arrays) == data.count("events") == 3
    assert arrays.lead_key[order].tolist() == [1, 2, 2]  # keys number the leads in lead_id order
    assert arrays.us[order].tolist() == [int((CLOCK - d * DAY).timestamp()) * 10**6 for d in (5, 4, 3)]
    assert [arrays.type_names[c] for c in arrays.type_code[order]] == ["page_view", "form_submit", "page_view"]
    np.testing.assert_array_equal(arrays.duration_s[order], [12.5, np.nan, 30.0])
    page, content = arrays.page_hash[order], arrays.content_hash[order]
    assert page[0] == page[2] != 0 and page[1] == 0
    assert content[1] != 0 and content[0] == content[2] == 0  # an empty content id is no value
    assert (arrays.lead_key.dtype, arrays.us.dtype, arrays.type_code.dtype, arrays.page_hash.dtype) == (
        np.int32, np.int64, np.int32, np.uint64)
    frame = data.frame("events").sort_values("ts", ignore_index=True)
    assert frame.columns.tolist() == ["lead_id", "ts", "event_type", "duration_s", "page", "content_id", "channel"]
    assert frame["lead_id"].tolist() == ["a", "b", "b"]
    assert frame["event_type"].tolist() == ["page_view", "form_submit", "page_view"]
    assert frame["content_id"].isna().tolist() == [True, False, True]
    assert data.frame("leads").columns.tolist() == ["lead_id", "created_at"]
    assert data.frame("leads")["lead_id"].tolist() == ["a", "b", "c"]


def test_attributes_are_split_by_type_and_by_what_their_text_parses_as():
    leads = pd.DataFrame({
        "lead_id": ["a", "b", "c"], "created_at": [CLOCK - 30 * DAY] * 3,
        "employees": ["10", " 20 ", ""], "source": ["web", None, "ads"], "visits": [1, 2, 3],
        "rating": [0.5, 1.5, np.nan], "opted_in": [True, False, True], "signed_up": [CLOCK - DAY] * 3,
        "zip": ["01234", "x1", "5"], "tiny": np.array([1, 2, 3], dtype=np.int8),
        "small": np.array([1, 2, 3], dtype=np.int16), "int": np.array([1, 2, 3], dtype=np.int32),
        "unsigned": np.array([1, 2, 3], dtype=np.uint8), "single": np.array([1, 2, 3], dtype=np.float32),
        "u16": np.array([1, 2, 3], dtype=np.uint16), "u32": np.array([1, 2, 3], dtype=np.uint32),
        "u64": np.array([1, 2, 3], dtype=np.uint64),
    })
    price = pa.array([Decimal("1.50"), Decimal("2.25"), None], pa.decimal128(5, 2))
    leads = pa.Table.from_pandas(leads, preserve_index=False).append_column("price", price)
    data = load_frames(leads, *_frames()[1:], clock=CLOCK)
    assert data.numeric_attributes == ["employees", "visits", "rating", "tiny", "small", "int", "unsigned", "single",
                                       "u16", "u32", "u64", "price"]
    assert data.categorical_attributes == ["source", "opted_in", "signed_up", "zip"]
    frame = data.frame("leads")
    assert frame["employees"].tolist()[:2] == [10.0, 20.0] and np.isnan(frame["employees"].tolist()[2])
    assert frame["zip"].tolist() == ["01234", "x1", "5"] and frame["source"].tolist()[::2] == ["web", "ads"]


@pytest.mark.parametrize("clock", [pd.Timestamp("2024-03-01 12:00"), pd.Timestamp("2024-03-01 13:00", tz="Europe/Paris")])
def test_the_clock_is_utc_whatever_it_is_given_in(clock):
    data = load_frames(*_frames([CLOCK - DAY]), clock=clock)
    assert data.clock == CLOCK and str(data.clock.tz) == "UTC"


def test_over_the_sample_size_a_text_column_is_judged_on_all_its_values():
    """Text attributes are first judged on the first 20,000 leads; a column whose sample cannot
    decide (too few unparseable values there) is counted in full."""
    n = 21_000
    numbers = [str(i) for i in range(n)]
    leads = pd.DataFrame({
        "lead_id": [f"L{i:05d}" for i in range(n)], "created_at": CLOCK - 30 * DAY,
        "late_text": numbers[:20_000] + ["x"] * 1000,  # the sample parses; 4.8 % of all do not
        "early_text": ["x"] * 300 + numbers[300:],  # the sample alone decides
        "few_bad": numbers[:20_900] + ["x"] * 100,  # 0.5 % unparseable: a number
        "at_the_limit": ["x"] * 210 + numbers[210:],  # 1 % of all unparseable, all in the sample: a number
    })
    data = load_frames(leads, *_frames()[1:], clock=CLOCK)
    assert data.numeric_attributes == ["few_bad", "at_the_limit"]
    assert data.categorical_attributes == ["late_text", "early_text"]


def _events(n, **columns):
    return pd.DataFrame({"lead_id": ["a"] * n, "ts": [CLOCK - (i + 1) * DAY for i in range(n)],
                         "event_type": ["page_view"] * n, **columns})


@pytest.mark.parametrize(("durations", "kept", "unparseable"), [
    (["12.5", " 3 ", "abc", "inf", "", None, "-1", "-inf"], [12.5, 3.0, None, None, None, None, None], 3),
    ([12.5, 3.0, np.inf, np.nan, -1.0, -np.inf], [12.5, 3.0, None, None, None], 2),
])
def test_durations_that_do_not_parse_are_missing_and_counted_and_negative_ones_dropped(durations, kept,
                                                                                     unparseable):
    events = _events(len(durations), duration_s=durations)
    data = load_frames(_frames()[0], events, _frames()[2], mapping=DataMapping(max_bad_fraction=0.5), clock=CLOCK)
    assert data.report == ["<events frame>: dropped 1 events with a negative duration (column 'duration_s')",
                           f"<events frame>: {unparseable} unparseable or non-finite values in 'duration_s' "
                           "taken as missing"]
    by_time = data.events.duration_s[np.argsort(-data.events.us)]  # the first event is the latest
    np.testing.assert_array_equal(by_time, np.array(kept, dtype=float))


def test_events_without_optional_columns_and_a_mapped_one_missing():
    data = load_frames(*_frames([CLOCK - DAY]), clock=CLOCK)
    assert data.event_columns == [] and data.report == []
    assert np.isnan(data.events.duration_s).all() and data.events.page_hash.tolist() == [0]
    assert data.events.content_hash.tolist() == [0]
    mapping = DataMapping(columns={"events": {"duration_s": "secs"}})
    with pytest.raises(BadInputError) as caught:
        load_frames(*_frames([CLOCK - DAY, CLOCK - 2 * DAY]), mapping=mapping, clock=CLOCK)
    assert caught.value.message == "<events frame>: column 'secs' (mapped to 'duration_s') is missing in all 2 rows"
    renamed = _events(1, secs=[7.0], web_page=["/p"])
    mapping = DataMapping(columns={"events": {"duration_s": "secs", "page": "web_page"}})
    data = load_frames(_frames()[0], renamed, _frames()[2], mapping=mapping, clock=CLOCK)
    assert data.event_columns == ["duration_s", "page"] and data.events.duration_s.tolist() == [7.0]
    assert data.events.page_hash[0] != 0
    # a bad value is reported under the user's name for the column
    data = load_frames(_frames()[0], _events(2, secs=["7", "soon"]), _frames()[2],
                       mapping=DataMapping(columns={"events": {"duration_s": "secs"}}), clock=CLOCK)
    assert data.report == ["<events frame>: 1 unparseable or non-finite values in 'secs' taken as missing"]
    assert data.events.duration_s.tolist()[0] == 7.0 and np.isnan(data.events.duration_s[1])


def test_a_timestamp_format_given_for_the_contract_column_applies_to_the_users_column():
    when_ms = int((CLOCK - DAY).value // 10**6)
    events = _events(1).drop(columns="ts").assign(when=[when_ms])
    mapping = DataMapping(columns={"events": {"ts": "when"}}, timestamps={"events": {"ts": "epoch_ms"}})
    data = load_frames(_frames()[0], events, _frames()[2], mapping=mapping, clock=CLOCK)
    assert data.report == []
    assert data.frame("events")["ts"].tolist() == [CLOCK - DAY]


def test_ids_are_trimmed_of_spaces_and_empty_ones_are_unparseable():
    leads = pd.DataFrame({"lead_id": [" a", "b "], "created_at": [CLOCK - 30 * DAY] * 2})
    events = pd.DataFrame({"lead_id": ["a ", " b", "", "\tb"], "ts": [CLOCK - DAY] * 4,
                           "event_type": [" page_view", "form_submit ", "page_view", "page_view"]})
    data = load_frames(leads, events, _frames()[2], mapping=DataMapping(max_bad_fraction=0.5), clock=CLOCK)
    assert data.report == ["<events frame>: dropped 1 rows with a missing or unparseable 'lead_id'",
                           "<events frame>: dropped 1 events for unknown leads (column 'lead_id')"]
    assert sorted(data.events.lead_key.tolist()) == [1, 2]
    assert sorted(data.events.type_names[c] for c in data.events.type_code) == ["form_submit", "page_view"]
    assert data.frame("leads")["lead_id"].tolist() == ["a", "b"]


def test_leads_created_after_the_clock_are_dropped_and_the_others_renumbered():
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "created_at": [CLOCK - DAY, CLOCK + DAY, CLOCK - DAY]})
    events = pd.DataFrame({"lead_id": ["c", "a", "c"], "ts": [CLOCK - 0.5 * DAY, CLOCK - 0.5 * DAY, CLOCK - 0.4 * DAY],
                           "event_type": ["x", "y", "x"]})
    outcomes = pd.DataFrame({"lead_id": ["c", "b", "zz", "a"], "stage": ["mql", "mql", "mql", "sql"],
                             "reached_at": [CLOCK - 0.25 * DAY, CLOCK - 0.25 * DAY, CLOCK - 0.25 * DAY, CLOCK + DAY]})
    data = load_frames(leads, events, outcomes, mapping=DataMapping(max_bad_fraction=0.9), clock=CLOCK)
    assert data.report == [
        "<leads frame>: dropped 1 leads whose 'created_at' is later than the run's clock (2024-03-01T12:00:00+00:00)",
        "<outcomes frame>: dropped 2 outcomes for unknown leads (column 'lead_id')",
        "<outcomes frame>: dropped 1 outcomes later than the run's clock 2024-03-01T12:00:00+00:00 "
        "(column 'reached_at')",
    ]
    assert data.con.execute("SELECT lead_key, lead_id FROM leads ORDER BY lead_key").fetchall() == [(1, "a"), (2, "c")]
    assert sorted(data.events.lead_key.tolist()) == [1, 2, 2]
    assert data.frame("outcomes")["lead_id"].tolist() == ["c"] and data.count("outcomes") == 1
    # the connection's setting is put back after the leads are numbered in order
    assert data.con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(False,)]
    con = connect()
    con.execute("SET preserve_insertion_order = true")
    load_frames(leads, events, outcomes, mapping=DataMapping(max_bad_fraction=0.9), clock=CLOCK, con=con)
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]


def test_repeated_lead_ids_are_fatal_with_their_counts():
    leads = pd.DataFrame({"lead_id": ["a", "a", "a", "b", "b", "c"], "created_at": [CLOCK - DAY] * 6})
    with pytest.raises(BadInputError) as caught:
        load_frames(leads, *_frames()[1:], clock=CLOCK)
    assert caught.value.message == "<leads frame>: column 'lead_id' has 3 duplicate lead ids (5 rows share an id)"


def test_excluded_and_stage_columns_are_not_attributes_and_absent_exclusions_are_reported():
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": [CLOCK - DAY] * 2, "owner": ["x", "y"],
                          "became_mql": [CLOCK - 0.5 * DAY, None], "size": [3, 4]})
    mapping = DataMapping(exclude_columns=["owner", "notes", "crm_id"], stage_columns={"mql": "became_mql"})
    data = load_frames(leads, *_frames()[1:], mapping=mapping, clock=CLOCK)
    assert data.report == ["<leads frame>: exclude_columns in the mapping name column(s) it does not have: "
                           "notes, crm_id"]
    assert (data.numeric_attributes, data.categorical_attributes) == (["size"], [])
    assert data.frame("outcomes")[["lead_id", "stage"]].values.tolist() == [["a", "mql"]]


def test_an_empty_leads_table_is_allowed_only_when_not_required():
    empty = pd.DataFrame({"lead_id": pd.Series([], dtype=str), "created_at": pd.Series([], dtype="datetime64[us, UTC]")})
    data = load_frames(empty, *_frames()[1:], clock=CLOCK, require_leads=False)
    assert data.count("leads") == 0 and len(data.events) == 0 and data.history_end() is None
    with pytest.raises(BadInputError) as caught:
        load_frames(empty, *_frames()[1:], clock=CLOCK)
    assert caught.value.message == "<leads frame>: column 'lead_id': the leads table is empty (0 rows)"


def _database(path, leads, events, outcomes) -> str:
    import duckdb

    with duckdb.connect(str(path)) as con:
        for name, frame in (("leads", leads), ("events", events), ("outcomes", outcomes)):
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
        con.execute("ALTER TABLE leads ADD COLUMN big HUGEINT DEFAULT 5")  # numeric whatever the reader makes of it
    return f"duckdb:///{path}"


def test_a_database_is_loaded_with_the_callers_clock_connection_and_leads_requirement(tmp_path):
    from leadq.data.load import load_data

    events_ts = [CLOCK - 2 * DAY, CLOCK + DAY]  # the second is after the clock
    url = _database(tmp_path / "crm.duckdb", *_frames(events_ts, [CLOCK - DAY]))
    con = connect()
    data = load_data(url, mapping=DataMapping(max_bad_fraction=0.5), clock=CLOCK, con=con)
    assert data.con is con and con.execute("SELECT count(*) FROM leads").fetchall() == [(2,)]
    assert data.clock == CLOCK and len(data.events) == 1 and data.numeric_attributes == ["big"]
    assert data.report == [f"{data.sources['events']}: dropped 1 events later than the run's clock "
                           "2024-03-01T12:00:00+00:00 (column 'ts')"]
    leads, events, outcomes = _frames()
    url = _database(tmp_path / "empty.duckdb", leads.iloc[:0], events, outcomes)
    assert load_data(url, clock=CLOCK, require_leads=False).count("leads") == 0
    with pytest.raises(BadInputError, match="the leads table is empty"):
        load_data(url, clock=CLOCK)


def test_a_query_in_the_mapping_needs_a_database_and_the_message_names_the_folder(tmp_path):
    from leadq.data.load import load_data

    (tmp_path / "leads.csv").write_text("lead_id,created_at\na,2024-01-01\n")
    mapping = DataMapping(tables={"events": {"query": "SELECT * FROM events"}})
    with pytest.raises(BadInputError) as caught:
        load_data(tmp_path, mapping=mapping, clock=CLOCK)
    assert caught.value.message == (f"{tmp_path}: the mapping gives a query for 'events'; queries need a database "
                                    "source (postgresql://... or duckdb:///...)")


def test_a_folder_is_loaded_with_the_callers_clock_and_the_readers_notes_first(tmp_path):
    from leadq.data.load import load_data

    # revenue beyond int64: CSV is read as text, and the text parses as numbers
    head = "lead_id,created_at,revenue,city\nL00001,2024-01-01,99999999999999999999,Munich\nL00002,2024-01-01,1,M"
    (tmp_path / "leads.csv").write_bytes(head.encode() + "ünchen\n".encode("latin-1"))
    (tmp_path / "events.csv").write_text("lead_id,ts,event_type\nL00001,2024-02-01,page_view\n"
                                         "L00001,2024-03-05,page_view\n")
    (tmp_path / "outcomes.csv").write_text("lead_id,stage,reached_at\n")
    data = load_data(tmp_path, mapping=DataMapping(max_bad_fraction=0.5), clock=CLOCK)
    assert data.clock == CLOCK
    assert data.report == [
        f"{tmp_path / 'leads.csv'}: not UTF-8 (byte 0xfc at offset {len(head)}): read as Latin-1; set csv.encoding "
        "in the mapping if that is wrong",
        f"{tmp_path / 'events.csv'}: dropped 1 events later than the run's clock 2024-03-01T12:00:00+00:00 "
        "(column 'ts')"]
    assert data.frame("leads")["city"].tolist() == ["Munich", "München"]
    assert (data.numeric_attributes, data.categorical_attributes) == (["revenue"], ["city"])
