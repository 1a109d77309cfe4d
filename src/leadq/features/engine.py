"""Build point-in-time feature vectors with the in-process engine (DuckDB reads and validates,
numpy counts).

`build_feature_table` describes any set of (lead, cutoff) pairs; `build_features` is the
scoring case: every open lead at one cutoff. Both count the cutoff-independent event arrays of
`event_arrays` strictly before each cutoff, in chunks of about CHUNK_ROWS rows whose counts go
straight into the output block (`np.add.at` / `np.maximum.at` per chunk). Chunks end where an
example's rows end, so COUNTING_THREADS threads count them side by side without ever writing
the same cells:

- one cutoff for distinct leads covering most events (scoring): the chunks are slices of the
  sorted event arrays, each row counting for its lead's example;
- otherwise (training snapshots, a few leads): each example is expanded into its lead's events.

The tests hold both ways, and any chunk size, to the same vectors. The Spark engine compiles the
same `FeatureSpec` into SQL (`features_sql`); both follow the semantics in data/README.md and
are tested equal.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from leadq.data.contract import STAGE_ORDER
from leadq.features.arrays import (
    DAY_START, FIRST_CONTENT, FIRST_PAGE, RETURN, SESSION_START, TIMED, US_PER_DAY, EventArrays, event_arrays,
)
from leadq.features.spec import FeatureSpec
from leadq.data.attributes import CATEGORICAL, NUMERIC, attribute_sql
from leadq.data.bound import quote_identifier
from leadq.data.load import LoadedData

NO_EVENT = np.iinfo(np.int64).min  # "latest event time" of an example without such an event


def to_utc(value) -> pd.Timestamp:
    """A timestamp in UTC; naive input is taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _lead_table(data: LoadedData, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Creation time (epoch µs) and the spec's attributes as arrays indexed by lead key (index 0:
    no lead); fetched once per (loaded data, attribute list).

    Text attributes come through Arrow, dictionary-encoded: each distinct label is one Python
    string shared by every lead that has it, instead of one string object per lead."""
    names = (tuple(spec.numeric_attributes), tuple(spec.categorical_attributes))
    cached = getattr(data, "_lead_table", None)
    if cached is not None and cached[0] == names:
        return cached[1]
    # The spec's recorded types decide how each attribute is read, not the data at hand.
    quoted = {c: quote_identifier(c) for c in [*names[0], *names[1]]}
    select = ["epoch_us(created_at) AS created_us"]
    select += [f"coalesce({attribute_sql(c, NUMERIC)}, CAST('NaN' AS DOUBLE)) AS {quoted[c]}" for c in names[0]]
    select += [f"{attribute_sql(c, CATEGORICAL)} AS {quoted[c]}" for c in names[1]]
    fetched = data.con.sql(f"SELECT lead_key, {', '.join(select)} FROM leads").to_arrow_table()
    key = fetched["lead_key"].to_numpy()
    table = {}
    for name in fetched.column_names[1:]:
        if name in names[1]:
            encoded = pc.dictionary_encode(fetched[name]).combine_chunks()
            labels = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
            codes = pc.fill_null(encoded.indices, len(labels) - 1).to_numpy()
            column = np.full(len(key) + 1, None, dtype=object)
            column[key] = labels[codes]
        else:
            column = np.full(len(key) + 1, 0 if name == "created_us" else np.nan)
            column[key] = fetched[name].to_numpy()
        table[name] = column
    data._lead_table = (names, table)
    return table


CHUNK_ROWS = 1 << 20  # rows per pass: temporaries stay small enough to be reused, not newly mapped
COUNTING_THREADS = 2


class _Chunk:
    """Up to CHUNK_ROWS event rows before their unit's cutoff, with the unit each counts for."""

    def __init__(self, unit, us, age, group, marks, duration):
        self.unit, self.us, self.age, self.group, self.marks, self.duration = unit, us, age, group, marks, duration


def _kept(unit, n_units, us, age, group, marks, duration) -> _Chunk:
    keep = unit < n_units
    if keep.all():
        return _Chunk(unit, us, age, group, marks, duration)
    return _Chunk(unit[keep], us[keep], age[keep], group[keep], marks[keep], duration[keep])


def _aligned_bounds(ends: np.ndarray) -> np.ndarray:
    """Chunk boundaries about CHUNK_ROWS rows apart, each at one of `ends` (sorted row offsets
    where a unit's rows end), so that no unit's rows straddle two chunks."""
    total = int(ends[-1]) if len(ends) else 0
    wanted = np.arange(CHUNK_ROWS, total, CHUNK_ROWS, dtype=np.int64)
    snapped = ends[np.minimum(np.searchsorted(ends, wanted), len(ends) - 1)]
    return np.unique(np.concatenate([[0], snapped, [total]]))


def _rows_at_one_cutoff(events: EventArrays, lead_key: np.ndarray, cut: int):
    """Every event, counting for the example of its lead (examples: distinct lead keys at one
    cutoff); events of other leads and at or after the cutoff are left out.

    Returns a function building the chunk of rows [start, stop), and where each unit's rows end."""
    n_units = len(lead_key)
    example_of_key = np.full(len(events.lead_start), n_units, dtype=np.int32)
    example_of_key[lead_key] = np.arange(n_units, dtype=np.int32)

    def chunk(start: int, stop: int) -> _Chunk:
        rows = slice(start, stop)
        us = events.us[rows]
        unit = example_of_key[events.lead_key[rows]]
        unit[us >= cut] = n_units
        return _kept(unit, n_units, us, cut - us, events.group[rows], events.marks[rows], events.duration_s[rows])

    return chunk, events.lead_start[1:]


def _rows_expanded(events: EventArrays, lead_key: np.ndarray, cut_us: np.ndarray):
    """Each example's events before its cutoff, counting for the example.

    Returns a function building the chunk of rows [start, stop), and where each unit's rows end."""
    starts = events.lead_start[lead_key]
    lengths = events.lead_start[lead_key + 1] - starts
    example = np.repeat(np.arange(len(lead_key)), lengths)
    ends = np.cumsum(lengths)
    row = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)

    def chunk(start: int, stop: int) -> _Chunk:
        rows, unit = row[start:stop], example[start:stop]
        us = events.us[rows]
        age = cut_us[unit] - us
        return _kept(np.where(age > 0, unit, len(lead_key)), len(lead_key), us, age, events.group[rows],
                     events.marks[rows], events.duration_s[rows])

    return chunk, ends


def _days_since(cut_us: np.ndarray, last: np.ndarray) -> np.ndarray:
    none = last == NO_EVENT
    return np.where(none, np.nan, (cut_us - np.where(none, cut_us, last)) / float(US_PER_DAY))


class _Engagement:
    """Accumulates the engagement features of `n` examples chunk by chunk, straight into the
    columns of `block` (one column per name in `column`, zero to start with)."""

    def __init__(self, spec: FeatureSpec, block: np.ndarray, column: dict[str, int]):
        self.spec, self.block, self.column = spec, block, column
        n = self.n = block.shape[0]
        groups = spec.count_groups()
        windows = spec.window_labels()
        self.window_us = np.asarray(spec.windows_days, dtype=np.int64) * US_PER_DAY
        # count_column[g, j]: block column of group g (the last "group": all events) in window j
        self.count_column = np.array([[column[f"{g}_{w}"] for w in windows] for g in groups]
                                     + [[column[f"events_{w}"] for w in windows]], dtype=np.int64)
        self.flat = block.reshape(-1, order="F")
        self.recent_us = spec.trend_recent_days * US_PER_DAY
        self.base_end_us = (spec.trend_recent_days + spec.trend_base_days) * US_PER_DAY
        self.n_recent, self.n_base = np.zeros(n), np.zeros(n)
        self.n_timed = np.zeros(n)
        self.recency_index = np.full(len(groups), -1, dtype=np.int64)
        for r, t in enumerate(spec.recency_types):
            self.recency_index[spec.event_types.index(t)] = r
        self.last_any = np.full(n, NO_EVENT, dtype=np.int64)
        self.last_of_type = np.full(n * len(spec.recency_types), NO_EVENT, dtype=np.int64)
        self.duration_group = [spec.event_types.index(t) for t in spec.duration_types]
        self.return_name = f"{spec.return_event_type}_returns"

    def col(self, name: str) -> np.ndarray:
        return self.block[:, self.column[name]]

    def add(self, c: _Chunk, cut_us: np.ndarray) -> None:
        """Count one chunk of rows."""
        n, unit = self.n, c.unit
        window = np.searchsorted(self.window_us, c.age, side="left")  # age <= window_us[j] iff window <= j
        np.add.at(self.flat, self.count_column[c.group, window] * n + unit, 1.0)
        np.add.at(self.flat, self.count_column[-1][window] * n + unit, 1.0)
        np.add.at(self.n_recent, unit[c.age <= self.recent_us], 1.0)
        np.add.at(self.n_base, unit[(c.age > self.recent_us) & (c.age <= self.base_end_us)], 1.0)
        np.maximum.at(self.last_any, unit, c.us)
        r = self.recency_index[c.group]
        typed = r >= 0
        np.maximum.at(self.last_of_type, r[typed] * n + unit[typed], c.us[typed])
        np.add.at(self.col("time_on_site_s_sum"), unit, c.duration)
        np.add.at(self.n_timed, unit[(c.marks & TIMED) != 0], 1.0)
        for t, g in zip(self.spec.duration_types, self.duration_group):
            of_type = c.group == g
            np.add.at(self.col(f"time_on_{t}_s_sum"), unit[of_type], c.duration[of_type])
        marked = np.flatnonzero(c.marks & (SESSION_START | DAY_START | RETURN | FIRST_CONTENT | FIRST_PAGE))
        unit, marks, in_30d = unit[marked], c.marks[marked], c.age[marked] <= 30 * US_PER_DAY
        day = (marks & DAY_START) != 0
        first_day_30d = ((cut_us[unit[day]] - 30 * US_PER_DAY) // US_PER_DAY) * US_PER_DAY
        day_30d = np.zeros(len(unit), dtype=bool)
        day_30d[day] = c.us[marked[day]] >= first_day_30d
        session, is_return = (marks & SESSION_START) != 0, (marks & RETURN) != 0
        for name, where in (
            ("active_days_all", day), ("active_days_30d", day_30d),
            ("sessions_all", session), ("sessions_30d", session & in_30d),
            (f"{self.return_name}_all", is_return), (f"{self.return_name}_30d", is_return & in_30d),
            ("distinct_content_all", (marks & FIRST_CONTENT) != 0),
            ("distinct_pages_all", (marks & FIRST_PAGE) != 0),
        ):
            np.add.at(self.col(name), unit[where], 1.0)

    def finish(self, cut_us: np.ndarray, journey_stage: np.ndarray) -> None:
        """Turn the accumulated counts into the features."""
        spec, block = self.spec, self.block
        for columns in self.count_column:  # counts per age class become counts per window
            for j in range(1, len(columns)):
                np.add(block[:, columns[j]], block[:, columns[j - 1]], out=block[:, columns[j]])
        self.col(spec.trend_column())[:] = (self.n_recent / float(spec.trend_recent_days)
                                            - self.n_base / float(spec.trend_base_days))
        total = self.col("time_on_site_s_sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            self.col("time_on_site_s_mean")[:] = np.where(self.n_timed > 0, total / self.n_timed, np.nan)
        self.col("days_since_last_event")[:] = _days_since(cut_us, self.last_any)
        last = self.last_of_type.reshape(len(spec.recency_types), self.n)
        for r, t in enumerate(spec.recency_types):
            self.col(f"days_since_last_{t}")[:] = _days_since(cut_us, last[r])
            self.col(f"no_{t}")[:] = last[r] == NO_EVENT
        self.col("journey_stage")[:] = journey_stage


def _fill_engagement(events: EventArrays, spec: FeatureSpec, lead_key: np.ndarray, cut_us: np.ndarray,
                     block: np.ndarray, column: dict[str, int]) -> None:
    """Write the engagement features of examples (lead key, cutoff µs) into `block`'s columns."""
    lengths = events.lead_start[lead_key + 1] - events.lead_start[lead_key]
    one_cutoff = len(cut_us) > 0 and bool((cut_us == cut_us[0]).all())
    # Distinct leads at one cutoff covering most events: one pass over all events, in place.
    in_place = (one_cutoff and 4 * int(lengths.sum()) >= len(events.us)
                and int(np.bincount(lead_key).max(initial=0)) <= 1)
    chunk, ends = (_rows_at_one_cutoff(events, lead_key, int(cut_us[0])) if in_place
                   else _rows_expanded(events, lead_key, cut_us))
    bounds = _aligned_bounds(ends)
    totals = _Engagement(spec, block, column)
    # Chunks hold whole units, so two threads never write the same cells; numpy releases the
    # GIL in much of the per-chunk work.
    with ThreadPoolExecutor(max_workers=COUNTING_THREADS) as pool:
        for _ in pool.map(lambda start, stop: totals.add(chunk(int(start), int(stop)), cut_us),
                          bounds[:-1], bounds[1:]):
            pass
    totals.finish(cut_us, (events.journey[lead_key] < cut_us[:, None]).sum(axis=1))


def feature_vectors(data: LoadedData, spec: FeatureSpec, lead_key: np.ndarray, cut_us: np.ndarray) -> pd.DataFrame:
    """`spec.feature_columns()` for examples given as lead keys (0: unknown lead) and cutoffs
    (epoch µs). Only events strictly before each cutoff are used."""
    lead_key = np.asarray(lead_key, dtype=np.int64)
    cut_us = np.asarray(cut_us, dtype=np.int64)
    names = [*spec.engagement_columns(), "lead_age_days", *spec.numeric_attributes]
    column = {name: i for i, name in enumerate(names)}
    block = np.zeros((len(lead_key), len(names)), dtype=np.float64, order="F")
    if spec.include_engagement and len(lead_key):
        _fill_engagement(event_arrays(data, spec), spec, lead_key, cut_us, block, column)
    leads = _lead_table(data, spec)
    block[:, column["lead_age_days"]] = (cut_us - leads["created_us"][lead_key]) / float(US_PER_DAY)
    for name in spec.numeric_attributes:
        block[:, column[name]] = leads[name][lead_key]
    block[lead_key == 0] = np.nan
    kept = spec.numeric_columns()
    if kept != names:  # an ablation: copy out the columns it keeps
        block = np.asfortranarray(block[:, [column[name] for name in kept]])
    frame = pd.DataFrame(block, columns=kept, copy=False)
    for name in spec.categorical_columns():
        frame[name] = pd.Series(leads[name][lead_key], dtype=object)
    return frame


def build_feature_table(data: LoadedData, spec: FeatureSpec, examples: pd.DataFrame) -> pd.DataFrame:
    """Feature vectors for each row of `examples` (columns `lead_id`, `cutoff`).

    Returns `examples` (index reset) with one column per `spec.feature_columns()`, in order.
    Only events strictly before each row's cutoff are used.
    """
    keys = pd.DataFrame({"ex_id": np.arange(len(examples)),
                         "lead_id": examples["lead_id"].astype(str).to_numpy()})
    data.con.register("examples_input", keys)
    found = data.con.execute(
        "SELECT k.ex_id, coalesce(l.lead_key, 0) AS lead_key FROM examples_input k "
        "LEFT JOIN leads l ON l.lead_id = k.lead_id"
    ).fetchnumpy()
    data.con.unregister("examples_input")
    lead_key = np.zeros(len(keys), dtype=np.int64)
    lead_key[found["ex_id"]] = found["lead_key"]
    cutoffs = pd.to_datetime(examples["cutoff"], utc=True)
    cut_us = cutoffs.to_numpy(dtype="datetime64[us]").astype(np.int64)
    vectors = feature_vectors(data, spec, lead_key, cut_us)
    return pd.concat([examples.reset_index(drop=True), vectors], axis=1)


def open_leads(data: LoadedData, as_of: pd.Timestamp, with_keys: bool = False) -> pd.DataFrame:
    """Leads created before `as_of` that had not become customers by then, with their stage.

    Columns: `lead_id`, `cutoff`, `current_stage` (the furthest stage of the funnel reached by
    `as_of`, or `lead`), and with `with_keys` the lead's key in the loaded data (`lead_key`).
    """
    as_of = to_utc(as_of)
    stage_rank = " ".join(f"WHEN '{s}' THEN {i + 1}" for i, s in enumerate(STAGE_ORDER))
    frame = data.con.execute(
        f"""
        WITH reached AS (
          SELECT lead_id, max(CASE stage {stage_rank} ELSE 0 END) AS rank
          FROM outcomes WHERE reached_at <= ? GROUP BY lead_id)
        SELECT l.lead_id, coalesce(r.rank, 0) AS rank, l.lead_key
        FROM leads l LEFT JOIN reached r ON r.lead_id = l.lead_id
        WHERE l.created_at < ? AND coalesce(r.rank, 0) < {len(STAGE_ORDER)}
        ORDER BY l.lead_id
        """,
        [as_of, as_of],
    ).df()
    names = np.array(["lead", *STAGE_ORDER], dtype=object)
    frame["current_stage"] = names[frame.pop("rank").to_numpy(dtype=int)]
    frame.insert(1, "cutoff", as_of)
    return frame if with_keys else frame.drop(columns="lead_key")


def build_features(data: LoadedData, spec: FeatureSpec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`."""
    as_of = to_utc(as_of)
    leads = open_leads(data, as_of, with_keys=True)
    cut_us = np.full(len(leads), as_of.value // 1000, dtype=np.int64)
    table = feature_vectors(data, spec, leads["lead_key"].to_numpy(dtype=np.int64), cut_us)
    table.insert(0, "lead_id", leads["lead_id"])
    return table
