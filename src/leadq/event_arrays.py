"""The cutoff-independent half of the feature engine: events as sorted arrays with their marks.

Validated events are fetched from DuckDB once per (loaded data, spec) as numpy arrays and put
in (lead, time) order. Every derived per-event flag ("mark") depends only on the event and the
events of the same lead before it, so counting marks strictly before a cutoff is point-in-time
correct for any cutoff:

- `session_start`: a lead's first event, and every event more than `session_gap_minutes` after
  the previous one;
- `day_start`: a lead's first event of each UTC day;
- `first_content`, `first_page`: a lead's first touch of each content item and page;
- `is_return`: a `return_event_type` event with an earlier one of the same lead between
  `return_max_days` and `return_min_hours` before it (both ends included).

`journey[k, s]` is when lead `k` first completed step `s` of the tell-tale sequence in order
(`NEVER` when it has not): step 0 is the first event of `journey_types[0]`, step s the first
event of `journey_types[s]` strictly after step s-1, and the last step the first return strictly
after the step before it.

Events of lead key `k` occupy rows `lead_start[k]:lead_start[k + 1]` (keys are 1-based; key 0
has none). Sorting and first-touch detection use single-key `np.sort` on packed 64-bit integers
(key bits above, row position below), which is several times faster than `argsort`.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from leadq.feature_spec import FeatureSpec
from leadq.load import LoadedData

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000
NEVER = np.iinfo(np.int64).max


@dataclass
class EventArrays:
    """Events of every lead in (lead, time) order, their marks, and each lead's journey."""

    us: np.ndarray
    group: np.ndarray
    duration_s: np.ndarray
    session_start: np.ndarray
    day_start: np.ndarray
    first_content: np.ndarray
    first_page: np.ndarray
    is_return: np.ndarray
    lead_start: np.ndarray
    journey: np.ndarray


def _bits(n: int) -> int:
    return max(int(n).bit_length(), 1)


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """True at the first row (in array order) of each distinct non-negative key."""
    n = len(keys)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    pos_bits = _bits(n)
    if _bits(int(keys.max())) + pos_bits <= 63:
        packed = np.sort((keys.astype(np.int64) << pos_bits) | np.arange(n, dtype=np.int64))
        first = np.ones(n, dtype=bool)
        first[1:] = (packed[1:] >> pos_bits) != (packed[:-1] >> pos_bits)
        out[packed[first] & ((1 << pos_bits) - 1)] = True
    else:
        out[np.unique(keys, return_index=True)[1]] = True
    return out


def lead_time_order(lead_key: np.ndarray, us: np.ndarray) -> np.ndarray:
    """The permutation that sorts events by lead, then time (ties keep input order)."""
    n = len(us)
    by_time = np.argsort(us, kind="stable")  # adaptive: cheap when the log is mostly in time order
    pos_bits = _bits(n)
    if n == 0 or _bits(int(lead_key.max())) + pos_bits > 63:
        return by_time[np.argsort(lead_key[by_time], kind="stable")]
    packed = np.sort((lead_key[by_time].astype(np.int64) << pos_bits) | np.arange(n, dtype=np.int64))
    return by_time[packed & ((1 << pos_bits) - 1)]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values in ascending order (`np.sort` based: faster than `np.unique` here)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def dense_codes(hashes: np.ndarray) -> tuple[np.ndarray, int]:
    """Small integer codes for 64-bit hashes of values (0: no value, coded -1), and how many
    distinct values there are.

    The distinct hashes usually differ in their low 16-24 bits, so a direct-mapped table indexed
    by those bits codes every row with one cache-resident lookup; `searchsorted` otherwise."""
    values = sorted_unique(hashes[hashes != 0])
    for bits in range(max(_bits(len(values)) + 6, 12), 25):
        slots = values & np.uint64((1 << bits) - 1)
        if len(sorted_unique(slots)) == len(values):
            table = np.full(1 << bits, -1, dtype=np.int64)
            table[slots.astype(np.int64)] = np.arange(len(values))
            codes = table[(hashes & np.uint64((1 << bits) - 1)).view(np.int64)]
            codes[hashes == 0] = -1
            return codes, len(values)
    codes = np.searchsorted(values, hashes).astype(np.int64)
    codes[hashes == 0] = -1
    return codes, len(values)


def first_touches(lead_key: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """True at each lead's first event with a given code (rows in lead, time order)."""
    present = codes >= 0
    out = np.zeros(len(codes), dtype=bool)
    rows = np.flatnonzero(present)
    out[rows] = first_occurrence(lead_key[rows].astype(np.int64) * max(n_codes, 1) + codes[rows])
    return out


def _new_lead(lead_key: np.ndarray) -> np.ndarray:
    new = np.ones(len(lead_key), dtype=bool)
    new[1:] = lead_key[1:] != lead_key[:-1]
    return new


def session_starts(lead_key: np.ndarray, us: np.ndarray, gap_us: int) -> np.ndarray:
    """True at each event that starts a session (rows in lead, time order)."""
    start = _new_lead(lead_key)
    start[1:] |= (us[1:] - us[:-1]) > gap_us
    return start


def day_starts(lead_key: np.ndarray, us: np.ndarray) -> np.ndarray:
    """True at each lead's first event of a UTC day (rows in lead, time order)."""
    day = us // US_PER_DAY
    start = _new_lead(lead_key)
    start[1:] |= day[1:] != day[:-1]
    return start


def return_marks(lead_key: np.ndarray, us: np.ndarray, candidate: np.ndarray, min_us: int, max_us: int) -> np.ndarray:
    """True at each candidate event with an earlier candidate of the same lead in
    [us - max_us, us - min_us] (rows in lead, time order)."""
    out = np.zeros(len(us), dtype=bool)
    rows = np.flatnonzero(candidate)
    if len(rows) == 0:
        return out
    lead, time = lead_key[rows].astype(np.int64), us[rows]
    # Rank times so that (lead, time) packs into one sortable integer.
    ranks = sorted_unique(np.concatenate([time, time - min_us]))
    width = len(ranks)
    key = lead * width + np.searchsorted(ranks, time)
    query = lead * width + np.searchsorted(ranks, time - min_us)
    latest = np.searchsorted(key, query, side="right") - 1
    found = latest >= 0
    safe = np.where(found, latest, 0)
    found &= (lead[safe] == lead) & (time[safe] >= time - max_us)
    out[rows[found]] = True
    return out


def _first_after(lead_key: np.ndarray, us: np.ndarray, rows: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per lead key, the first time among `rows` strictly after `after[lead]` (NEVER if none)."""
    result = np.full(len(after), NEVER, dtype=np.int64)
    lead = lead_key[rows]
    keep = us[rows] > after[lead]
    lead, time = lead[keep], us[rows][keep]
    first = _new_lead(lead)
    result[lead[first]] = time[first]
    return result


def journey_times(lead_key, us, group, is_return, journey_groups: list[int], n_keys: int) -> np.ndarray:
    """(n_keys, steps) first completion time of each journey step in order (NEVER if not yet)."""
    steps = [np.flatnonzero(group == g) for g in journey_groups] + [np.flatnonzero(is_return)]
    times = np.empty((n_keys, len(steps)), dtype=np.int64)
    after = np.full(n_keys, np.iinfo(np.int64).min, dtype=np.int64)
    for s, rows in enumerate(steps):
        times[:, s] = _first_after(lead_key, us, rows, after)
        after = times[:, s]
    return times


def _fetch(data: LoadedData, spec: FeatureSpec) -> dict[str, np.ndarray]:
    group = " ".join(f"WHEN '{t.replace(chr(39), chr(39) * 2)}' THEN {i}" for i, t in enumerate(spec.event_types))
    return data.con.execute(
        f"""
        SELECT lead_key, epoch_us(ts) AS us,
               CAST(CASE event_type {group} ELSE {len(spec.event_types)} END AS SMALLINT) AS grp,
               coalesce(duration_s, CAST('NaN' AS DOUBLE)) AS duration_s,
               CASE WHEN page IS NULL THEN 0 ELSE greatest(hash(page), 1) END AS page_hash,
               CASE WHEN content_id IS NULL THEN 0 ELSE greatest(hash(content_id), 1) END AS content_hash
        FROM events
        """
    ).fetchnumpy()


def _first_touches_of(lead_key: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    codes, n_codes = dense_codes(hashes)
    return first_touches(lead_key, codes, n_codes)


def build_event_arrays(data: LoadedData, spec: FeatureSpec) -> EventArrays:
    """Fetch the validated events and derive everything that does not depend on a cutoff."""
    raw = _fetch(data, spec)
    n_keys = data.count("leads") + 1
    per_lead = np.bincount(raw["lead_key"], minlength=n_keys)
    order = lead_time_order(raw.pop("lead_key"), raw["us"])
    lead_key = np.repeat(np.arange(n_keys, dtype=np.int32), per_lead)
    us = raw.pop("us")[order]
    group = raw.pop("grp")[order]
    is_return = return_marks(
        lead_key, us, group == spec.event_types.index(spec.return_event_type),
        int(spec.return_min_hours * US_PER_HOUR), int(spec.return_max_days * US_PER_DAY),
    )
    journey_groups = [spec.event_types.index(t) for t in spec.journey_types]
    return EventArrays(
        us=us,
        group=group,
        duration_s=raw.pop("duration_s")[order],
        session_start=session_starts(lead_key, us, int(spec.session_gap_minutes * US_PER_MINUTE)),
        day_start=day_starts(lead_key, us),
        first_content=_first_touches_of(lead_key, raw.pop("content_hash")[order]),
        first_page=_first_touches_of(lead_key, raw.pop("page_hash")[order]),
        is_return=is_return,
        lead_start=np.concatenate([[0], np.cumsum(per_lead)]),
        journey=journey_times(lead_key, us, group, is_return, journey_groups, n_keys),
    )


def event_arrays(data: LoadedData, spec: FeatureSpec) -> EventArrays:
    """`build_event_arrays`, computed once per (loaded data, spec) and kept with the data."""
    key = hashlib.sha1(spec.model_dump_json().encode()).hexdigest()
    cached = getattr(data, "_event_arrays", None)
    if cached is None or cached[0] != key:
        cached = (key, build_event_arrays(data, spec))
        data._event_arrays = cached
    return cached[1]
