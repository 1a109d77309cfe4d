"""Timestamps a user types (`--as-of`, `--end`): ISO 8601 or `now`, always UTC, never guessed.

- `now` and `today` are the current instant in UTC (not the machine's wall clock read as UTC);
- otherwise only ISO 8601: `YYYY-MM-DD`, optionally `THH:MM[:SS[.fraction]]` (or a space instead
  of `T`) and `Z` or an offset `+HH:MM`. Text such as `03/04/2026` is refused: whether it means
  March or April is exactly what must not be guessed;
- naive times are UTC, an offset is converted to UTC;
- empty text, `nan`, `NaT`, an impossible date (`2026-02-30`) or one out of range is a one-line
  error (exit code 2), never a cutoff that selects nothing.
"""

import re

import pandas as pd

from leadq.core.errors import BadInputError

ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?$"
)
NOW_WORDS = ("now", "today")
EXAMPLE = "e.g. 2026-06-30, 2026-06-30T08:00:00Z or now"


def parse_timestamp(text: str | None, option: str = "--as-of", clock: pd.Timestamp | None = None) -> pd.Timestamp:
    """The UTC timestamp a user's `text` names (`clock`, default the current UTC time, for
    `now`/`today`); anything else than ISO 8601 is a `BadInputError` naming `option`."""
    value = "" if text is None else str(text).strip()
    if not value:
        raise BadInputError(f"{option}: empty timestamp; give an ISO-8601 date or time ({EXAMPLE})")
    if value.lower() in NOW_WORDS:
        return pd.Timestamp.now(tz="UTC") if clock is None else pd.Timestamp(clock).tz_convert("UTC")
    if not ISO_8601.match(value):
        raise BadInputError(
            f"{option}: cannot read '{value}' as a timestamp; only ISO 8601 is accepted ({EXAMPLE}), "
            "so day and month are never guessed"
        )
    try:
        stamp = pd.Timestamp(value).as_unit("ns")  # the range every engine can count in
    except (ValueError, OverflowError):
        raise BadInputError(f"{option}: '{value}' is not a valid date or time between the years 1678 and 2261 "
                            f"({EXAMPLE})") from None
    if pd.isna(stamp):
        raise BadInputError(f"{option}: '{value}' is not a valid date or time ({EXAMPLE})")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def future_cutoff_warning(cutoff: pd.Timestamp, clock: pd.Timestamp, option: str = "--as-of") -> list[str]:
    """A warning line when a cutoff lies after the run's clock (no data can be known there yet)."""
    if cutoff <= clock:
        return []
    return [f"{option} {cutoff.isoformat()} is after the run's clock {clock.isoformat()}: features are "
            "computed as if nothing happened in between"]
