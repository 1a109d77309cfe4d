"""Integrity checks on validated events: exact duplicates, and what unknown lead ids look like.

- `exact_duplicates`: a part file delivered twice double-counts every touch in it. Events equal
  in lead, time, type, page, content and duration are duplicates; all but the first are dropped.
  One 64-bit hash and one sort find the candidates (cheap next to the load); only rows sharing a
  hash are compared value by value, so a hash collision never drops an event.
- `id_format_hint`: events whose ids match no lead are usually ids written differently
  (`007` in one export, `7` in the other): the hint finds such a pair to name in the error.
"""

import numpy as np
import pandas as pd


def _mix(values: np.ndarray, salt: int) -> np.ndarray:
    """A well-spread 64-bit hash of each value (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64, copy=True) if values.dtype != np.float64 else values.view(np.uint64).copy()
        x += np.uint64(salt)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


DUPLICATE_KEY = ("lead_key", "us", "type_code", "page_hash", "content_hash", "duration_s")


def exact_duplicates(columns: dict[str, np.ndarray]) -> np.ndarray | None:
    """True for every event that repeats an earlier one exactly (same lead, time, type, page,
    content and duration), None when there is none. One hash and one sort find the candidates;
    only rows sharing a hash are compared value by value."""
    n = len(columns["us"])
    if n < 2:
        return None
    digest = np.zeros(n, dtype=np.uint64)
    for salt, name in enumerate(DUPLICATE_KEY, start=1):
        with np.errstate(over="ignore"):
            digest = digest * np.uint64(0x9E3779B97F4A7C15) ^ _mix(columns[name], salt)
    ordered = np.sort(digest)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return None
    rows = np.flatnonzero(np.isin(digest, repeated))
    subset = pd.DataFrame({name: columns[name][rows] for name in DUPLICATE_KEY})
    duplicated = subset.duplicated(keep="first").to_numpy()
    if not duplicated.any():
        return None
    out = np.zeros(n, dtype=bool)
    out[rows[duplicated]] = True
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
