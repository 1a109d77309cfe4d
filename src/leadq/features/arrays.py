"""The cutoff-independent half of the feature engine: events as sorted arrays with their marks.

The validated events (`LoadedData.events`) are put in (lead, time) order once per (loaded data,
spec). Every derived per-event flag ("mark", one bit of `marks`) depends only on the event and
the events of the same lead before it, so counting marks strictly before a cutoff is
point-in-time correct for any cutoff:

- `TIMED`: the event has a duration;
- `SESSION_START`: a lead's first event, and every event more than `session_gap_minutes` after
  the previous one;
- `DAY_START`: a lead's first event of each UTC day;
- `FIRST_CONTENT`, `FIRST_PAGE`: a lead's first touch of each content item and page;
- `RETURN`: a `return_event_type` event with an earlier one of the same lead between
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from leadq.features.spec import FeatureSpec
from leadq.data.load import LoadedData

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
US_PER_MINUTE = 60_000_000
NEVER = np.iinfo(np.int64).max
TIMED, SESSION_START, DAY_START, FIRST_CONTENT, FIRST_PAGE, RETURN = 1, 2, 4, 8, 16, 32


@dataclass
class EventArrays:
    """Events of every lead in (lead, time) order, their marks, and each lead's journey.

    `duration_s` is 0 where an event has no duration (its `TIMED` bit is then clear)."""

    lead_key: np.ndarray
    us: np.ndarray
    group: np.ndarray
    duration_s: np.ndarray
    marks: np.ndarray
    lead_start: np.ndarray
    journey: np.ndarray


def _bits(n: int) -> int:
    return max(int(n).bit_length(), 1)


def first_rows(keys: np.ndarray, rows: np.ndarray, overwrite_keys: bool = False) -> np.ndarray:
    """Of `rows` (ascending positions, one per key), those that come first among the rows with
    the same key. Packs (key, position) into one int64 and sorts it when the bits allow; with
    `overwrite_keys` an int64 `keys` is packed in place instead of copied."""
    if len(keys) == 0:
        return rows[:0]
    pos_bits = _bits(int(rows[-1]))
    if _bits(int(keys.max())) + pos_bits > 63:
        return rows[np.unique(keys, return_index=True)[1]]
    packed = keys.astype(np.int64, copy=not overwrite_keys)
    packed <<= pos_bits
    packed |= rows
    packed.sort()
    first = np.empty(len(packed), dtype=bool)
    first[0] = True
    changed = packed[1:] ^ packed[:-1]
    changed >>= pos_bits
    np.not_equal(changed, 0, out=first[1:])
    found = packed[first]
    found &= (1 << pos_bits) - 1
    return found


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """True at the first row (in array order) of each distinct non-negative key."""
    out = np.zeros(len(keys), dtype=bool)
    out[first_rows(keys, np.arange(len(keys), dtype=np.int64))] = True
    return out


def lead_time_order(lead_key: np.ndarray, us: np.ndarray) -> np.ndarray:
    """The permutation that sorts events by lead, then time (ties keep input order)."""
    n = len(us)
    by_time = np.argsort(us, kind="stable")  # adaptive: cheap when the log is mostly in time order
    pos_bits = _bits(n)
    if n == 0 or _bits(int(lead_key.max())) + pos_bits > 63:
        return by_time[np.argsort(lead_key[by_time], kind="stable")]
    packed = lead_key[by_time].astype(np.int64)
    packed <<= pos_bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << pos_bits) - 1
    return by_time[packed]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values in ascending order (`np.sort` based: faster than `np.unique` here)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def dense_codes(hashes: np.ndarray) -> tuple[np.ndarray, int]:
    """Small integer codes (int32) for 64-bit hashes of values (0: no value, coded -1), and how
    many distinct values there are.

    The distinct hashes usually differ in their low 16-24 bits, so a direct-mapped table indexed
    by those bits codes every row with one cache-resident lookup; `searchsorted` otherwise."""
    missing = hashes == 0
    values = sorted_unique(hashes[~missing])
    for bits in range(max(_bits(len(values)) + 6, 12), 25):
        slots = values & np.uint64((1 << bits) - 1)
        if len(sorted_unique(slots)) == len(values):
            table = np.full(1 << bits, -1, dtype=np.int32)
            table[slots.astype(np.int64)] = np.arange(len(values), dtype=np.int32)
            row_slots = hashes & np.uint64((1 << bits) - 1)
            codes = table[row_slots.view(np.int64)]
            codes[missing] = -1
            return codes, len(values)
    codes = np.searchsorted(values, hashes).astype(np.int32)
    codes[missing] = -1
    return codes, len(values)


def first_touches(lead_key: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """True at each lead's first event with a given code (rows in lead, time order)."""
    out = np.zeros(len(codes), dtype=bool)
    rows = np.flatnonzero(codes >= 0)
    keys = lead_key[rows].astype(np.int64)
    keys *= max(n_codes, 1)
    keys += codes[rows]
    out[first_rows(keys, rows, overwrite_keys=True)] = True
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


RETURN_LOOKBACK_STEPS = 64


def return_marks(lead_key: np.ndarray, us: np.ndarray, candidate: np.ndarray, min_us: int, max_us: int) -> np.ndarray:
    """True at each candidate event with an earlier candidate of the same lead in
    [us - max_us, us - min_us] (rows in lead, time order).

    The latest earlier candidate at least `min_us` before is found by stepping back one
    candidate at a time, for the rows not yet settled; runs of candidates closer together than
    `min_us` longer than RETURN_LOOKBACK_STEPS are settled by a search over ranked times."""
    out = np.zeros(len(us), dtype=bool)
    rows = np.flatnonzero(candidate)
    if len(rows) == 0:
        return out
    lead, time = lead_key[rows], us[rows]
    latest = np.full(len(rows), -1, dtype=np.int64)  # the earlier candidate found (-1: none)
    open_ = np.arange(1, len(rows), dtype=np.int64)
    for step in range(1, RETURN_LOOKBACK_STEPS + 1):
        back = open_ - step
        same_lead = lead[back] == lead[open_]
        open_, back = open_[same_lead], back[same_lead]
        settled = time[back] <= time[open_] - min_us
        latest[open_[settled]] = back[settled]
        open_ = open_[~settled & (back > 0)]
        if len(open_) == 0:
            break
    else:
        latest[open_] = _latest_before_by_rank(lead, time, min_us)[open_]
    found = latest >= 0
    found[found] = time[latest[found]] >= time[found] - max_us
    out[rows[found]] = True
    return out


def _latest_before_by_rank(lead: np.ndarray, time: np.ndarray, min_us: int) -> np.ndarray:
    """For each row (sorted by lead, time), the last row of the same lead with time <= its
    time - min_us (-1: none), by packing (lead, ranked time) into one searchable integer."""
    lead = lead.astype(np.int64)
    ranks = sorted_unique(np.concatenate([time, time - min_us]))
    width = len(ranks)
    key = lead * width + np.searchsorted(ranks, time)
    query = lead * width + np.searchsorted(ranks, time - min_us)
    latest = np.searchsorted(key, query, side="right") - 1
    safe = np.maximum(latest, 0)
    return np.where((latest >= 0) & (lead[safe] == lead), latest, -1)


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


def group_codes(type_code: np.ndarray, type_names: list[str], spec: FeatureSpec) -> np.ndarray:
    """Each event's count group: its index in `spec.event_types`, or the `other` group."""
    other = len(spec.event_types)
    lookup = np.array([spec.event_types.index(t) if t in spec.event_types else other for t in type_names] + [other],
                      dtype=np.int8 if other < 127 else np.int32)
    return lookup[type_code]


def build_event_arrays(data: LoadedData, spec: FeatureSpec) -> EventArrays:
    """Sort the validated events and derive everything that does not depend on a cutoff."""
    raw = data.events
    n_keys = data.count("leads") + 1
    with ThreadPoolExecutor(max_workers=1) as helper:  # numpy releases the GIL in most of this
        coding = helper.submit(lambda: [dense_codes(raw.content_hash), dense_codes(raw.page_hash)])
        per_lead = np.bincount(raw.lead_key, minlength=n_keys)
        order = lead_time_order(raw.lead_key, raw.us)
        lead_key = np.repeat(np.arange(n_keys, dtype=np.int32), per_lead)
        (content_code, n_content), (page_code, n_pages) = coding.result()
        page_touches = helper.submit(lambda rows=order, codes=page_code: first_touches(lead_key, codes[rows], n_pages))
        us = raw.us[order]
        group = group_codes(raw.type_code, raw.type_names, spec)[order]
        duration = raw.duration_s[order]
        timed = ~np.isnan(duration)
        duration[~timed] = 0.0
        content_touches = first_touches(lead_key, content_code[order], n_content)
        del order, content_code, page_code
        return_group = spec.event_types.index(spec.return_event_type)
        is_return = return_marks(lead_key, us, group == return_group, int(spec.return_min_hours * US_PER_HOUR),
                                 int(spec.return_max_days * US_PER_DAY))
        marks = timed.view(np.uint8) * np.uint8(TIMED)
        for flag, bit in (
            (session_starts(lead_key, us, int(spec.session_gap_minutes * US_PER_MINUTE)), SESSION_START),
            (day_starts(lead_key, us), DAY_START),
            (content_touches, FIRST_CONTENT),
            (page_touches.result(), FIRST_PAGE),
            (is_return, RETURN),
        ):
            marks |= flag.view(np.uint8) * np.uint8(bit)
    journey_groups = [spec.event_types.index(t) for t in spec.journey_types]
    return EventArrays(
        lead_key=lead_key, us=us, group=group, duration_s=duration, marks=marks,
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
