"""Build point-in-time feature vectors with the in-process engine (DuckDB for tables, numpy for
the aggregation).

`build_feature_table` describes any set of (lead, cutoff) pairs; `build_features` is the
scoring case: every open lead at one cutoff. Both count the cutoff-independent event arrays of
`event_arrays` strictly before each cutoff: each example is expanded into its lead's events,
the events at or after its cutoff are masked out, and every feature is a `np.bincount` or an
`np.add.at` / `np.maximum.at` over what is left. The Spark engine compiles the same
`FeatureSpec` into SQL (`features_sql`); both follow the semantics in data/README.md and are
tested equal.
"""

import numpy as np
import pandas as pd

from leadq.contract import STAGE_ORDER
from leadq.event_arrays import US_PER_DAY, EventArrays, event_arrays
from leadq.feature_spec import FeatureSpec
from leadq.load import LoadedData

NO_EVENT = np.iinfo(np.int64).min  # "latest event time" of an example without such an event


def to_utc(value) -> pd.Timestamp:
    """A timestamp in UTC; naive input is taken as UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _lead_table(data: LoadedData, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Creation time (epoch µs) and the spec's attributes as arrays indexed by lead key (index 0:
    no lead); fetched once per (loaded data, attribute list)."""
    names = (tuple(spec.numeric_attributes), tuple(spec.categorical_attributes))
    cached = getattr(data, "_lead_table", None)
    if cached is not None and cached[0] == names:
        return cached[1]
    quoted = {c: '"' + c.replace('"', '""') + '"' for c in [*names[0], *names[1]]}
    select = ["epoch_us(created_at) AS created_us"]
    select += [f"coalesce(CAST({quoted[c]} AS DOUBLE), CAST('NaN' AS DOUBLE)) AS {quoted[c]}" for c in names[0]]
    select += [f"CAST({quoted[c]} AS VARCHAR) AS {quoted[c]}" for c in names[1]]
    fetched = data.con.execute(f"SELECT {', '.join(select)} FROM leads ORDER BY lead_key").fetchnumpy()
    table = {}
    for name, values in fetched.items():
        if name in names[1]:
            text = np.ma.getdata(values).astype(object)
            text[np.ma.getmaskarray(values)] = None
            table[name] = np.concatenate([np.array([None], dtype=object), text])
        else:
            missing = 0 if name == "created_us" else np.nan
            table[name] = np.concatenate([[missing], np.ma.getdata(values)])
    data._lead_table = (names, table)
    return table


class _Expanded:
    """Each example's events strictly before its cutoff: row arrays and the example they describe."""

    def __init__(self, events: EventArrays, lead_key: np.ndarray, cut_us: np.ndarray):
        starts = events.lead_start[lead_key]
        lengths = events.lead_start[lead_key + 1] - starts
        example = np.repeat(np.arange(len(lead_key)), lengths)
        offsets = np.cumsum(lengths) - lengths
        row = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
        us = events.us[row]
        cut = cut_us[example]
        before = us < cut
        self.row = row[before]
        self.example = example[before]
        self.age = (cut - us)[before]
        self.us = us[before]
        self.group = events.group[self.row]
        self.n_examples = len(lead_key)
        self.group_key = self.group.astype(np.int64) * self.n_examples + self.example

    def count(self, where: np.ndarray | None = None) -> np.ndarray:
        """Per example, the rows where `where` holds (all rows when None)."""
        example = self.example if where is None else self.example[where]
        return np.bincount(example, minlength=self.n_examples).astype(np.float64)

    def count_by_group(self, n_groups: int, where: np.ndarray | None = None) -> np.ndarray:
        """(groups, examples) row counts where `where` holds."""
        counts = np.zeros(n_groups * self.n_examples)
        np.add.at(counts, self.group_key if where is None else self.group_key[where], 1.0)
        return counts.reshape(n_groups, self.n_examples)

    def last_time_by_group(self, n_groups: int) -> np.ndarray:
        """(groups, examples) latest event time (NO_EVENT when none)."""
        last = np.full(n_groups * self.n_examples, NO_EVENT, dtype=np.int64)
        np.maximum.at(last, self.group_key, self.us)
        return last.reshape(n_groups, self.n_examples)


def _days_since(cut_us: np.ndarray, last: np.ndarray) -> np.ndarray:
    none = last == NO_EVENT
    return np.where(none, np.nan, (cut_us - np.where(none, cut_us, last)) / float(US_PER_DAY))


def _engagement(events: EventArrays, spec: FeatureSpec, lead_key: np.ndarray, cut_us: np.ndarray) -> dict:
    """Engagement feature columns (name -> float array) for examples (lead key, cutoff µs)."""
    x = _Expanded(events, lead_key, cut_us)
    groups = spec.count_groups()
    windows = spec.window_labels()
    columns: dict[str, np.ndarray] = {}
    by_window = {label: x.count_by_group(len(groups), None if days is None else x.age <= days * US_PER_DAY)
                 for label, days in zip(windows, [*spec.windows_days, None])}
    for g, group in enumerate(groups):
        for label in windows:
            columns[f"{group}_{label}"] = by_window[label][g]
    for label in windows:
        columns[f"events_{label}"] = by_window[label].sum(axis=0)
    duration = events.duration_s[x.row]
    timed = ~np.isnan(duration)
    total = np.bincount(x.example[timed], weights=duration[timed], minlength=x.n_examples)
    n_timed = x.count(timed)
    columns["time_on_site_s_sum"] = total
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["time_on_site_s_mean"] = np.where(n_timed > 0, total / n_timed, np.nan)
    for t in spec.duration_types:
        typed = timed & (x.group == spec.event_types.index(t))
        columns[f"time_on_{t}_s_sum"] = np.bincount(x.example[typed], weights=duration[typed], minlength=x.n_examples)
    last = x.last_time_by_group(len(groups))
    columns["days_since_last_event"] = _days_since(cut_us, last.max(axis=0))
    for t in spec.recency_types:
        last_of_type = last[spec.event_types.index(t)]
        columns[f"days_since_last_{t}"] = _days_since(cut_us, last_of_type)
        columns[f"no_{t}"] = (last_of_type == NO_EVENT).astype(np.float64)
    in_30d = x.age <= 30 * US_PER_DAY
    day_start = events.day_start[x.row]
    first_day_30d = (cut_us - 30 * US_PER_DAY) // US_PER_DAY
    columns["active_days_all"] = x.count(day_start)
    columns["active_days_30d"] = x.count(day_start & (x.us // US_PER_DAY >= first_day_30d[x.example]))
    session_start = events.session_start[x.row]
    columns["sessions_all"] = x.count(session_start)
    columns["sessions_30d"] = x.count(session_start & in_30d)
    is_return = events.is_return[x.row]
    columns[f"{spec.return_event_type}_returns_all"] = x.count(is_return)
    columns[f"{spec.return_event_type}_returns_30d"] = x.count(is_return & in_30d)
    columns["distinct_content_all"] = x.count(events.first_content[x.row])
    columns["distinct_pages_all"] = x.count(events.first_page[x.row])
    recent = spec.trend_recent_days * US_PER_DAY
    base_end = (spec.trend_recent_days + spec.trend_base_days) * US_PER_DAY
    n_recent = x.count(x.age <= recent)
    n_base = x.count((x.age > recent) & (x.age <= base_end))
    columns[spec.trend_column()] = n_recent / float(spec.trend_recent_days) - n_base / float(spec.trend_base_days)
    columns["journey_stage"] = (events.journey[lead_key] < cut_us[:, None]).sum(axis=1).astype(np.float64)
    return columns


def feature_vectors(data: LoadedData, spec: FeatureSpec, lead_key: np.ndarray, cut_us: np.ndarray) -> pd.DataFrame:
    """`spec.feature_columns()` for examples given as lead keys (0: unknown lead) and cutoffs
    (epoch µs). Only events strictly before each cutoff are used."""
    lead_key = np.asarray(lead_key, dtype=np.int64)
    cut_us = np.asarray(cut_us, dtype=np.int64)
    columns = _engagement(event_arrays(data, spec), spec, lead_key, cut_us) if spec.include_engagement else {}
    leads = _lead_table(data, spec)
    columns["lead_age_days"] = (cut_us - leads["created_us"][lead_key]) / float(US_PER_DAY)
    for name in [*spec.numeric_attributes, *spec.categorical_attributes]:
        columns[name] = leads[name][lead_key]
    unknown = lead_key == 0
    numeric_names = spec.numeric_columns()
    block = np.empty((len(lead_key), len(numeric_names)), dtype=np.float64, order="F")
    for i, name in enumerate(numeric_names):
        block[:, i] = columns[name]
    block[unknown] = np.nan
    frame = pd.DataFrame(block, columns=numeric_names, copy=False)
    for name in spec.categorical_columns():
        frame[name] = pd.Series(columns[name], dtype=object)
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


def open_leads(data: LoadedData, as_of: pd.Timestamp) -> pd.DataFrame:
    """Leads created before `as_of` that had not become customers by then, with their stage.

    Columns: `lead_id`, `cutoff`, `current_stage` (the furthest stage of the funnel reached by
    `as_of`, or `lead`).
    """
    as_of = to_utc(as_of)
    stage_rank = " ".join(f"WHEN '{s}' THEN {i + 1}" for i, s in enumerate(STAGE_ORDER))
    frame = data.con.execute(
        f"""
        WITH reached AS (
          SELECT lead_id, max(CASE stage {stage_rank} ELSE 0 END) AS rank
          FROM outcomes WHERE reached_at <= ? GROUP BY lead_id)
        SELECT l.lead_id, coalesce(r.rank, 0) AS rank
        FROM leads l LEFT JOIN reached r ON r.lead_id = l.lead_id
        WHERE l.created_at < ? AND coalesce(r.rank, 0) < {len(STAGE_ORDER)}
        ORDER BY l.lead_id
        """,
        [as_of, as_of],
    ).df()
    names = np.array(["lead", *STAGE_ORDER], dtype=object)
    frame["current_stage"] = names[frame.pop("rank").to_numpy(dtype=int)]
    frame.insert(1, "cutoff", as_of)
    return frame


def build_features(data: LoadedData, spec: FeatureSpec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`."""
    leads = open_leads(data, as_of)
    table = build_feature_table(data, spec, leads[["lead_id", "cutoff"]])
    return table.drop(columns=["cutoff"])
