"""Integrity checks on validated events: exact duplicates, and what unknown lead ids look like.

- `exact_duplicates`: a part file delivered twice double-counts every touch in it. Events equal
  in lead, time, type, page, content and duration are duplicates; all but the first are dropped.
  One 64-bit hash and one sort find the candidates (cheap next to the load); only rows sharing a
  hash are compared value by value, so a hash collision never drops an event.
- `id_format_hint`: events whose ids match no lead are usually ids written differently
  (`007` in one export, `7` in the other): the hint finds such a pair to name in the error.
"""

import numpy as np

DUPLICATE_KEY = ("lead_key", "us", "type_code", "page_hash", "content_hash", "duration_s")


def _bits(values: np.ndarray) -> np.ndarray:
    """The values as 64-bit patterns (floats by their bits: equal NaNs compare equal)."""
    return values.view(np.uint64) if values.dtype == np.float64 else values.astype(np.uint64)


MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
               0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)


def _digest(columns: dict[str, np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each event's duplicate key: each column times an odd constant, XORed, then
    mixed (a few passes over the arrays; equal events always get equal hashes)."""
    digest = None
    with np.errstate(over="ignore"):
        for name, multiplier in zip(DUPLICATE_KEY, MULTIPLIERS):
            term = _bits(columns[name]) * np.uint64(multiplier)
            if digest is None:
                digest = term
            else:
                digest ^= term
        digest ^= digest >> np.uint64(29)
        digest *= np.uint64(0xBF58476D1CE4E5B9)
        digest ^= digest >> np.uint64(32)
    return digest


def exact_duplicates(columns: dict[str, np.ndarray]) -> np.ndarray | None:
    """True for every event that repeats an earlier one exactly (same lead, time, type, page,
    content and duration), None when there is none.

    One hash per event and one sort answer the usual "none" case. Otherwise the events are put
    in hash order (stable, so the first of equal events comes first) and each is compared value
    by value with the first event of its hash: only an exact copy is dropped, never an event
    that merely shares a hash."""
    n = len(columns["us"])
    if n < 2:
        return None
    digest = _digest(columns)
    ordered = np.sort(digest)
    if not np.any(ordered[1:] == ordered[:-1]):
        return None
    del ordered
    order = np.argsort(digest, kind="stable")
    by_hash = digest[order]
    repeats = np.flatnonzero(by_hash[1:] == by_hash[:-1]) + 1  # positions after the first of a hash
    group_start = np.zeros(n, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, by_hash[1:] != by_hash[:-1]])
    group_start[starts] = starts
    np.maximum.accumulate(group_start, out=group_start)
    rows, firsts = order[repeats], order[group_start[repeats]]
    same = np.ones(len(rows), dtype=bool)
    for name in DUPLICATE_KEY:
        values = _bits(np.ascontiguousarray(columns[name]))
        same &= values[rows] == values[firsts]
    if not same.any():
        return None
    out = np.zeros(n, dtype=bool)
    out[rows[same]] = True
    return out


def normal_id(value: str) -> str:
    """An id without surrounding spaces, leading zeros, a trailing '.0' or case (as `NORMAL_ID_SQL`)."""
    text = str(value).strip().lstrip("0")
    return (text[:-2] if text.endswith(".0") else text).lower()


NORMAL_ID_SQL = "lower(regexp_replace(ltrim(trim(lead_id), '0'), '[.]0$', ''))"


def id_format_hint(con, parsed: str) -> str:
    """What the unknown ids of `parsed` (a view with `lead_id`) look like against the leads'."""
    unknown = [row[0] for row in con.execute(
        f"SELECT DISTINCT p.lead_id FROM {parsed} p ANTI JOIN leads l ON l.lead_id = p.lead_id "
        "WHERE p.lead_id IS NOT NULL LIMIT 20").fetchall()]
    for value in unknown:
        match = con.execute(
            f"SELECT lead_id FROM leads WHERE {NORMAL_ID_SQL} = ? LIMIT 1", [normal_id(value)]).fetchall()
        if match:
            return f"ids differ in format: '{value}' here vs '{match[0][0]}' in the leads table"
    example = con.execute("SELECT lead_id FROM leads LIMIT 1").fetchall()
    seen = f"; lead ids look like '{example[0][0]}'" if example else "; the leads table is empty"
    return f"e.g. '{unknown[0]}' is no lead's id{seen}" if unknown else "check the id columns"
