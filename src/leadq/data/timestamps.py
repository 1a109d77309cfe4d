"""Timestamp columns as the user's export writes them, parsed to UTC in SQL.

A column's format (the mapping's `timestamps:` section) is one of:

- `iso` (the default): ISO-8601 text (`2026-03-01`, `2026-03-01 14:05:00`, `...T14:05:00+02:00`);
- `epoch_s`, `epoch_ms`, `epoch_us`: seconds, milliseconds or microseconds since 1970-01-01
  UTC, as numbers or text (fractions allowed);
- a `strftime` format with `%` directives (`%d/%m/%Y %H:%M`, `%d.%m.%Y`, with `%z` for an
  offset), DuckDB's `strptime` dialect.

Native timestamp and date columns (Parquet) are used as they are whatever the format says.
Naive times are UTC; an explicit offset is converted to UTC. A value that does not parse is
NULL, for the bad-input policy to count.
"""

import duckdb

from leadq.core.errors import BadInputError
from leadq.data.bound import bind_value, quote_identifier

EPOCH_UNITS_PER_SECOND = {"epoch_s": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000}
FORMAT_WORDS = ("iso", *EPOCH_UNITS_PER_SECOND)
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")


def check_format_word(fmt: str | None) -> str | None:
    """`fmt` when it is a known word or holds a `%` directive (for config validation)."""
    if fmt is None or fmt in FORMAT_WORDS or "%" in fmt:
        return fmt
    raise ValueError(f"'{fmt}' is not a timestamp format: use iso, epoch_s, epoch_ms, epoch_us or a "
                     "strftime format such as '%d/%m/%Y %H:%M'")


def is_native_timestamp(column_type: str) -> bool:
    """True for DuckDB's timestamp and date types."""
    upper = column_type.upper()
    return upper.startswith("TIMESTAMP") or upper == "DATE"


def is_numeric(column_type: str) -> bool:
    """True for DuckDB's integer, floating-point and decimal types."""
    return column_type.upper().startswith(NUMERIC_TYPES)


def timestamp_sql(con: duckdb.DuckDBPyConnection, column: str, column_type: str, fmt: str | None = None,
                  where: str = "") -> str:
    """SQL parsing column `column` (of DuckDB type `column_type`) to TIMESTAMPTZ in UTC.

    A strftime format is checked here (a bad one is a one-line error naming `where`, e.g.
    "mapping timestamps.events.ts") and reaches DuckDB as a bound value."""
    col = quote_identifier(column)
    if is_native_timestamp(column_type):
        return f"CAST({col} AS TIMESTAMPTZ)"
    text = f"nullif(trim(CAST({col} AS VARCHAR)), '')"
    if fmt in EPOCH_UNITS_PER_SECOND:
        number = col if is_numeric(column_type) else f"TRY_CAST({text} AS DOUBLE)"
        per_second = EPOCH_UNITS_PER_SECOND[fmt]
        factor = f" * {1_000_000 // per_second}" if per_second < 1_000_000 else ""
        # Microseconds as an integer: exact for any epoch in the next few thousand years.
        micros = f"TRY_CAST(round(CAST({number} AS DOUBLE){factor}) AS BIGINT)"
        return f"CAST(make_timestamp({micros}) AS TIMESTAMPTZ)"
    if fmt and fmt != "iso":
        try:
            con.execute("SELECT try_strptime('', ?)", [fmt])
        except duckdb.Error as exc:
            raise BadInputError(f"{where or 'timestamp format'}: '{fmt}' is not a valid strptime format "
                                f"({str(exc).strip().splitlines()[0]})") from None
        return f"CAST(try_strptime({text}, {bind_value(con, fmt)}) AS TIMESTAMPTZ)"
    return f"TRY_CAST({text} AS TIMESTAMPTZ)"
