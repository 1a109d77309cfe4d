"""A plain vectorised pandas/numpy baseline of leadq's feature vector for one cutoff.

It computes the same features as the in-process engine (`leadq.features.engine.build_features`) without
leadq's code: pandas reads, merges and groups, numpy does per-event arithmetic. There is no
`apply` and no Python loop over leads or events; the only Python loops run over the spec (event
types, windows, journey steps).

It serves two purposes:

- the speed/memory baseline of `benchmarks/bench_features.py` (the pandas engine reads the
  Parquet tables itself with `read_tables` and does the validation that matters for features
  with `validate_tables`);
- an independent second implementation that `tests/features/test_pandas_baseline.py` checks against the
  DuckDB engine column by column.

Semantics (data/README.md): events with ts < cutoff only; a d-day window is [t - d days, t);
days are UTC days; a session starts at a lead's first event and after every gap over
`session_gap_minutes`; a return is a `return_event_type` event with an earlier one between
`return_max_days` and `return_min_hours` before it (both ends included); `journey_stage` counts
the steps of the tell-tale sequence completed in order before the cutoff, plus one for a return
after the last step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000
STAGE_CUSTOMER = "customer"
NUMERIC_SHARE_FOR_NUMBER = 0.99


# --- reading and validation (the benchmark's pandas process) ---------------------------------


def to_us(values) -> np.ndarray:
    """Timestamps (native, naive-as-UTC or ISO text) as int64 epoch microseconds; NaT -> INT64 min."""
    s = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s.astype(object).where(s.notna(), None), utc=True, format="ISO8601",
                           errors="coerce")
    elif getattr(s.dtype, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    else:
        s = s.dt.tz_convert("UTC")
    return s.dt.as_unit("us").to_numpy(dtype="datetime64[us]").view("int64")


NAT_US = np.iinfo(np.int64).min


def _text(values: pd.Series) -> pd.Series:
    """Ids and types compared as text; missing stays missing."""
    return values.astype(object).where(values.notna(), None).astype(str).where(values.notna(), None)


def read_tables(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """leads, events and outcomes from `data_dir/NAME.parquet` with pandas/pyarrow."""
    data_dir = Path(data_dir)
    leads = pd.read_parquet(data_dir / "leads.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    outcomes = pd.read_parquet(data_dir / "outcomes.parquet")
    return leads, events, outcomes


def validate_tables(leads: pd.DataFrame, events: pd.DataFrame, outcomes: pd.DataFrame,
                    clock: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The bad-input policy's row drops that change features, done in pandas.

    Missing required values, leads/events/outcomes later than the clock, events and outcomes
    for unknown leads, events before the lead's created_at and negative durations are dropped;
    of exact duplicate events the first is kept.
    Timestamps come back as `datetime64[us, UTC]`, ids as text, stages lower-cased.
    """
    clock_us = (pd.Timestamp.now(tz="UTC") if clock is None else _utc(clock)).value // 1000
    leads = leads.copy()
    if not pd.api.types.is_string_dtype(leads["lead_id"].dtype):
        leads["lead_id"] = _text(leads["lead_id"])
    created = to_us(leads["created_at"])
    keep = leads["lead_id"].notna().to_numpy() & (created != NAT_US) & (created <= clock_us)
    leads = leads.loc[keep].reset_index(drop=True)
    leads["created_at"] = pd.to_datetime(created[keep], unit="us", utc=True)
    if leads["lead_id"].duplicated().any():
        raise ValueError("leads: duplicate lead ids")

    ids = pd.Index(leads["lead_id"])
    created_us = created[keep]
    ev_ids = events["lead_id"] if pd.api.types.is_string_dtype(events["lead_id"].dtype) else _text(events["lead_id"])
    code = ids.get_indexer(ev_ids)
    ts = to_us(events["ts"])
    ok = (code >= 0) & (ts != NAT_US) & events["event_type"].notna().to_numpy() & (ts <= clock_us)
    ok &= ts >= np.where(code >= 0, created_us[np.maximum(code, 0)], 0)
    if "duration_s" in events:
        dur = pd.to_numeric(events["duration_s"], errors="coerce").to_numpy(dtype=float)
        ok &= ~(dur < 0)
    events = events.loc[ok].reset_index(drop=True)
    events["ts"] = pd.to_datetime(ts[ok], unit="us", utc=True)
    if not pd.api.types.is_string_dtype(events["lead_id"].dtype):
        events["lead_id"] = _text(events["lead_id"])
    # exact duplicates (same lead, time, type, page, content and duration) count once
    same = [c for c in ("lead_id", "ts", "event_type", "page", "content_id", "duration_s") if c in events]
    events = events.drop_duplicates(subset=same, keep="first").reset_index(drop=True)

    out_ids = outcomes["lead_id"] if pd.api.types.is_string_dtype(outcomes["lead_id"].dtype) else _text(outcomes["lead_id"])
    reached = to_us(outcomes["reached_at"])
    ok = ids.get_indexer(out_ids) >= 0
    ok &= (reached != NAT_US) & (reached <= clock_us) & outcomes["stage"].notna().to_numpy()
    outcomes = pd.DataFrame({
        "lead_id": out_ids[ok].to_numpy(),
        "stage": outcomes["stage"][ok].astype(str).str.strip().str.lower().to_numpy(),
        "reached_at": pd.to_datetime(reached[ok], unit="us", utc=True),
    })
    return leads, events, outcomes


def infer_attribute_spec(leads: pd.DataFrame, spec):
    """The spec with the leads' attribute columns as numeric or categorical (as leadq classifies them)."""
    if spec.numeric_attributes or spec.categorical_attributes:
        return spec
    numeric, categorical = [], []
    for name in leads.columns:
        if name in ("lead_id", "created_at") or name in spec.exclude_features:
            continue
        col = leads[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            categorical.append(name)
        elif pd.api.types.is_numeric_dtype(col.dtype):
            numeric.append(name)
        elif pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
            text = col.astype(object).where(col.notna(), None).astype(str).str.strip()
            filled = col.notna() & (text != "")
            parsed = pd.to_numeric(text.where(filled), errors="coerce").notna()
            if filled.sum() and parsed.sum() / filled.sum() >= NUMERIC_SHARE_FOR_NUMBER:
                numeric.append(name)
            else:
                categorical.append(name)
        else:
            categorical.append(name)
    return spec.model_copy(update={"numeric_attributes": numeric, "categorical_attributes": categorical})


def history_end(events: pd.DataFrame, outcomes: pd.DataFrame) -> pd.Timestamp:
    """Latest event or outcome time (the benchmark's cutoff)."""
    last = max(int(to_us(events["ts"]).max(initial=NAT_US)), int(to_us(outcomes["reached_at"]).max(initial=NAT_US)))
    return pd.Timestamp(last, unit="us", tz="UTC")


# --- the features ------------------------------------------------------------------------------


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _last_of_run(code: np.ndarray) -> np.ndarray:
    """Positions of the last element of each run of equal codes (the array is grouped by code)."""
    if len(code) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[code[1:] != code[:-1], True])


def _first_of_run(code: np.ndarray) -> np.ndarray:
    """Boolean: element starts a run of equal codes."""
    return np.r_[True, code[1:] != code[:-1]] if len(code) else np.zeros(0, dtype=bool)


def _distinct_per_lead(code: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Count of distinct non-negative `value`s per lead code."""
    keep = value >= 0
    pairs = pd.DataFrame({"c": code[keep], "v": value[keep]}).drop_duplicates()
    return np.bincount(pairs["c"].to_numpy(), minlength=n).astype(float)


class PreparedEvents:
    """Validated events sorted by (lead, ts) with the cutoff-independent per-event columns.

    The analogue of leadq's `prepared_events` + `journey` tables: `new_session`, `is_return`,
    the UTC day, the event-type group and each lead's journey step times.
    """

    def __init__(self, leads: pd.DataFrame, events: pd.DataFrame, spec):
        self.lead_ids = leads["lead_id"].astype(str).to_numpy(dtype=object)
        self.created_us = to_us(leads["created_at"])
        n = len(self.lead_ids)
        self.n = n
        index = pd.Index(self.lead_ids)
        code = index.get_indexer(events["lead_id"].astype(str))
        ts = to_us(events["ts"])
        keep = code >= 0
        order = np.lexsort((ts[keep], code[keep]))
        rows = np.flatnonzero(keep)[order]
        self.code = code[rows].astype(np.int64)
        self.ts = ts[rows]

        groups = [*spec.event_types, "other"]
        self.groups = groups
        etype = events["event_type"].to_numpy(dtype=object)[rows] if len(rows) else np.zeros(0, object)
        type_codes, type_names = pd.factorize(etype)
        name_to_group = np.array([groups.index(t) if t in spec.event_types else len(groups) - 1
                                  for t in type_names] + [len(groups) - 1], dtype=np.int16)
        self.grp = name_to_group[type_codes]  # factorize gives -1 for missing -> other
        if "duration_s" in events:
            self.dur = pd.to_numeric(events["duration_s"], errors="coerce").to_numpy(dtype=float)[rows]
        else:
            self.dur = np.full(len(rows), np.nan)
        self.page = self._codes(events, "page", rows)
        self.content = self._codes(events, "content_id", rows)
        self.day = np.floor_divide(self.ts, US_PER_DAY)

        # sessions: a lead's first event, or a gap over session_gap_minutes
        gap_us = int(spec.session_gap_minutes * US_PER_MINUTE)
        first = _first_of_run(self.code)
        gaps = np.r_[0, np.diff(self.ts)] if len(self.ts) else np.zeros(0, dtype=np.int64)
        self.new_session = first | (gaps > gap_us)

        # returns: the latest earlier return-type event at or before ts - min must be >= ts - max
        ret_group = groups.index(spec.return_event_type)
        ret_min_us = int(spec.return_min_hours * US_PER_HOUR)
        ret_max_us = int(spec.return_max_days * US_PER_DAY)
        self.is_return = np.zeros(len(self.ts), dtype=bool)
        pos = np.flatnonzero(self.grp == ret_group)
        if len(pos):
            probe = pd.DataFrame({"code": self.code[pos], "q": self.ts[pos] - ret_min_us, "pos": pos})
            probe = probe.sort_values("q", kind="stable")
            earlier = pd.DataFrame({"code": self.code[pos], "prev": self.ts[pos]}).sort_values("prev", kind="stable")
            hit = pd.merge_asof(probe, earlier, left_on="q", right_on="prev", by="code",
                                direction="backward", allow_exact_matches=True)
            found = hit["prev"].notna().to_numpy()
            p = hit["pos"].to_numpy()[found]
            prev = hit["prev"].to_numpy()[found].astype(np.int64)
            self.is_return[p[prev >= self.ts[p] - ret_max_us]] = True

        # journey: step k is the first event of journey type k strictly after step k-1
        # (all events, like leadq's journey table; the cutoff is applied when reading it)
        none = np.iinfo(np.int64).max
        self.journey = []
        prev = np.full(n, np.iinfo(np.int64).min)
        steps = [self.grp == groups.index(t) for t in spec.journey_types] + [self.is_return]
        for k, mask in enumerate(steps):
            m = mask & (self.ts > prev[self.code]) if k else mask
            idx = np.flatnonzero(m)
            firsts = idx[_first_of_run(self.code[idx])]  # sorted by ts within lead: first = min
            t = np.full(n, none)
            t[self.code[firsts]] = self.ts[firsts]
            self.journey.append(t)
            prev = t

    @staticmethod
    def _codes(events: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
        if column not in events:
            return np.full(len(rows), -1, dtype=np.int64)
        values = events[column]
        codes, _ = pd.factorize(values)
        # leadq trims and treats '' as missing; empty strings are rare, treat them the same way
        blank = (values.astype(object) == "").to_numpy()
        codes = np.where(blank, -1, codes)
        return codes[rows].astype(np.int64)


def _numeric(values: pd.Series) -> np.ndarray:
    """An attribute as float64 (text is trimmed; blank or unparseable is missing)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(float).to_numpy()
    text = values.astype(object).where(values.notna(), None).astype(str).str.strip()
    return pd.to_numeric(text.where(values.notna() & (text != "")), errors="coerce").astype(float).to_numpy()


def _categorical(values: pd.Series) -> np.ndarray:
    """An attribute as text labels with None for missing (booleans as DuckDB writes them)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.map({True: "true", False: "false"})
    present = values.notna().to_numpy()
    out = np.full(len(values), None, dtype=object)
    out[present] = values[present].astype(str).to_numpy(dtype=object)
    return out


def open_lead_codes(prep: PreparedEvents, outcomes: pd.DataFrame, as_of_us: int) -> np.ndarray:
    """Codes of leads created before the cutoff and not customers by it, ordered by lead_id."""
    reached = to_us(outcomes["reached_at"])
    stage = outcomes["stage"].astype(str).str.lower().to_numpy(dtype=object)
    customers = outcomes["lead_id"].astype(str).to_numpy(dtype=object)[(stage == STAGE_CUSTOMER) & (reached <= as_of_us)]
    is_customer = np.zeros(prep.n, dtype=bool)
    c = pd.Index(prep.lead_ids).get_indexer(pd.unique(customers))
    is_customer[c[c >= 0]] = True
    codes = np.flatnonzero((prep.created_us < as_of_us) & ~is_customer)
    return codes[np.argsort(prep.lead_ids[codes].astype(str), kind="stable")]


def features_from_prepared(prep: PreparedEvents, leads: pd.DataFrame, outcomes: pd.DataFrame,
                           spec, as_of) -> pd.DataFrame:
    """The feature vector of every open lead as of `as_of` from prepared events."""
    as_of = _utc(as_of)
    cut = as_of.value // 1000
    n = prep.n
    open_codes = open_lead_codes(prep, outcomes, cut)

    m = prep.ts < cut  # per lead, a prefix of its (sorted) events
    code, ts, grp = prep.code[m], prep.ts[m], prep.grp[m].astype(np.int64)
    dur, new_session, is_return = prep.dur[m], prep.new_session[m], prep.is_return[m]
    n_groups = len(prep.groups)
    key = code * n_groups + grp
    size = n * n_groups
    cols: dict[str, np.ndarray] = {}

    if spec.include_engagement:
        counts = {"all": np.bincount(key, minlength=size).reshape(n, n_groups)}
        for d in spec.windows_days:
            w = ts >= cut - d * US_PER_DAY
            counts[f"{d}d"] = np.bincount(key[w], minlength=size).reshape(n, n_groups)
        labels = spec.window_labels()
        for g, group in enumerate(prep.groups):
            for w in labels:
                cols[f"{group}_{w}"] = counts[w][:, g].astype(float)
        for w in labels:
            cols[f"events_{w}"] = counts[w].sum(axis=1).astype(float)

        has_dur = ~np.isnan(dur)
        dur0 = np.where(has_dur, dur, 0.0)
        n_dur = np.bincount(code, weights=has_dur, minlength=n)
        dur_sum = np.bincount(code, weights=dur0, minlength=n)
        sessions_all = np.bincount(code, weights=new_session, minlength=n)
        cols["time_on_site_s_sum"] = dur_sum  # missing durations add nothing; 0 without any
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["time_on_site_s_mean"] = np.where(n_dur > 0, dur_sum / n_dur, np.nan)
        for t in spec.duration_types:
            sel = grp == prep.groups.index(t)
            cols[f"time_on_{t}_s_sum"] = np.bincount(code[sel], weights=dur0[sel], minlength=n)

        def days_since_last(sel) -> np.ndarray:
            c, s = code[sel], ts[sel]
            last = _last_of_run(c)
            out = np.full(n, np.nan)
            out[c[last]] = (cut - s[last]) / float(US_PER_DAY)
            return out

        cols["days_since_last_event"] = days_since_last(slice(None))
        for t in spec.recency_types:
            value = days_since_last(grp == prep.groups.index(t))
            cols[f"days_since_last_{t}"] = value
            cols[f"no_{t}"] = np.isnan(value).astype(float)

        d30 = ts >= cut - 30 * US_PER_DAY
        day = prep.day[m]
        first_day = _first_of_run(code) | np.r_[True, day[1:] != day[:-1]]  # sorted by (lead, ts)
        cols["active_days_all"] = np.bincount(code[first_day], minlength=n).astype(float)
        # whole UTC days from the day the 30-day window starts in (leadq's documented semantics)
        in_days30 = day >= (cut - 30 * US_PER_DAY) // US_PER_DAY
        cols["active_days_30d"] = np.bincount(code[first_day & in_days30], minlength=n).astype(float)
        cols["sessions_all"] = sessions_all
        cols["sessions_30d"] = np.bincount(code, weights=new_session & d30, minlength=n)
        ret = spec.return_event_type
        cols[f"{ret}_returns_all"] = np.bincount(code, weights=is_return, minlength=n)
        cols[f"{ret}_returns_30d"] = np.bincount(code, weights=is_return & d30, minlength=n)
        cols["distinct_content_all"] = _distinct_per_lead(code, prep.content[m], n)
        cols["distinct_pages_all"] = _distinct_per_lead(code, prep.page[m], n)
        recent_us = spec.trend_recent_days * US_PER_DAY
        base_us = (spec.trend_recent_days + spec.trend_base_days) * US_PER_DAY
        n_recent = np.bincount(code, weights=ts >= cut - recent_us, minlength=n)
        n_base = np.bincount(code, weights=(ts >= cut - base_us) & (ts < cut - recent_us), minlength=n)
        cols[spec.trend_column()] = n_recent / float(spec.trend_recent_days) - n_base / float(spec.trend_base_days)
        cols["journey_stage"] = sum((t < cut).astype(float) for t in prep.journey) + np.zeros(n)

    cols["lead_age_days"] = (cut - prep.created_us) / float(US_PER_DAY)
    frame = pd.DataFrame({name: values[open_codes] for name, values in cols.items()})
    leads_open = leads.iloc[open_codes].reset_index(drop=True)
    for name in spec.numeric_attributes:
        frame[name] = _numeric(leads_open[name])
    for name in spec.categorical_attributes:
        frame[name] = _categorical(leads_open[name])
    frame.insert(0, "lead_id", prep.lead_ids[open_codes])
    return frame[["lead_id", *spec.feature_columns()]]


def pandas_features(leads_df: pd.DataFrame, events_df: pd.DataFrame, outcomes_df: pd.DataFrame,
                    spec, as_of) -> pd.DataFrame:
    """One feature row per open lead as of `as_of`: `lead_id` then `spec.feature_columns()`.

    The frames are validated tables (leadq's `LoadedData.frame(...)` or `validate_tables`
    output). Open leads: created before `as_of`, not customers by it, ordered by lead_id.
    """
    prep = PreparedEvents(leads_df, events_df, spec)
    return features_from_prepared(prep, leads_df, outcomes_df, spec, as_of)
