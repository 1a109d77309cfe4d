"""The bad-input policy, defined once: what is fatal, what is reported and dropped, and the
words of every line (see data/README.md). Each engine (DuckDB in `leadq.data.load`, Spark in
`leadq.spark.load`) counts with its own SQL and hands the counts to these functions, so both
decide alike and say the same thing.
"""

import pandas as pd

from leadq.core.errors import BadInputError
from leadq.data.contract import REQUIRED_COLUMNS
from leadq.data.mapping import DataMapping

NUMERIC_SHARE_FOR_NUMBER = 0.99
"""A text attribute is numeric when this share of its filled values parses as a number."""


def require_columns(present: set[str] | dict, n_rows: int, table: str, source: str,
                    mapping: DataMapping) -> None:
    """Fatal when a required column of `table` (under its mapped name) is absent."""
    for contract_col in REQUIRED_COLUMNS[table]:
        source_col = mapping.source_column(table, contract_col)
        if source_col not in present:
            alias = "" if source_col == contract_col else f" (mapped to '{contract_col}')"
            raise BadInputError(
                f"{source}: required column '{source_col}'{alias} is missing in all {n_rows} rows"
            )


def report_unparseable(source: str, source_col: str, n_bad: int, n_rows: int, mapping: DataMapping,
                       report: list[str]) -> None:
    """Fatal above the configured share of bad rows, else one report line (nothing when none)."""
    if not n_bad:
        return
    share = n_bad / n_rows
    if share > mapping.max_bad_fraction:
        raise BadInputError(
            f"{source}: column '{source_col}' has {n_bad} of {n_rows} rows missing or "
            f"unparseable ({share:.1%}, limit {mapping.max_bad_fraction:.1%})"
        )
    report.append(f"{source}: dropped {n_bad} rows with a missing or unparseable '{source_col}'")


def is_numeric_attribute(n_filled: int, n_parsed: int) -> bool:
    """Whether a text attribute with `n_filled` values, `n_parsed` of them numbers, is numeric."""
    return bool(n_filled) and n_parsed / n_filled >= NUMERIC_SHARE_FOR_NUMBER


def check_lead_ids(source: str, id_column: str, n_rows: int, n_distinct: int, n_rows_sharing: int) -> None:
    """Fatal when lead ids repeat."""
    if n_rows != n_distinct:
        raise BadInputError(
            f"{source}: column '{id_column}' has {n_rows - n_distinct} duplicate lead ids "
            f"({int(n_rows_sharing)} rows share an id)"
        )


def future_leads_line(source: str, created_column: str, n_future: int, clock: pd.Timestamp) -> str:
    """The report line for leads created after the run's clock (dropped)."""
    return (f"{source}: dropped {n_future} leads whose '{created_column}' is later than the "
            f"run's clock ({clock.isoformat()})")


def check_leads_left(source: str, id_column: str, n_left: int, require_leads: bool) -> None:
    """Fatal when no lead is left and the command needs leads."""
    if require_leads and n_left == 0:
        raise BadInputError(f"{source}: column '{id_column}': the leads table is empty (0 rows)")


def event_drop_reasons(mapping: DataMapping, clock: pd.Timestamp) -> dict[str, str]:
    """Why an event row is dropped, in the order the rules are applied: reason -> line template
    (`{n}` is the count)."""
    id_src = mapping.source_column("events", "lead_id")
    ts_src = mapping.source_column("events", "ts")
    duration_src = mapping.source_column("events", "duration_s")
    return {
        "unknown_lead": f"dropped {{n}} events for unknown leads (column '{id_src}')",
        "before_created": f"dropped {{n}} events before the lead's created_at (column '{ts_src}')",
        "after_clock": f"dropped {{n}} events later than the run's clock {clock.isoformat()} (column '{ts_src}')",
        "negative_duration": f"dropped {{n}} events with a negative duration (column '{duration_src}')",
    }


def outcome_drop_reasons(source: str, mapping: DataMapping, clock: pd.Timestamp) -> dict[str, str]:
    """Why an outcome row is dropped: reason -> line template (`{n}` is the count)."""
    reached_src = mapping.source_column("outcomes", "reached_at")
    return {
        "unknown_lead": f"{source}: dropped {{n}} outcomes for unknown leads "
                        f"(column '{mapping.source_column('outcomes', 'lead_id')}')",
        "after_clock": f"{source}: dropped {{n}} outcomes later than the run's clock {clock.isoformat()} "
                       f"(column '{reached_src}')",
    }


def report_drops(source: str, templates: dict[str, str], counts: dict[str, int], report: list[str]) -> None:
    """One report line per drop reason with a non-zero count, in the templates' order."""
    for reason, template in templates.items():
        n = int(counts.get(reason) or 0)
        if n:
            line = template.format(n=n)
            report.append(line if line.startswith(f"{source}: ") else f"{source}: {line}")


def unparseable_duration_line(source: str, duration_column: str, n_bad: int) -> str:
    """The report line for durations that are not finite numbers (kept, as missing)."""
    return f"{source}: {n_bad} unparseable or non-finite values in '{duration_column}' taken as missing"


def check_unknown_lead_events(source: str, id_column: str, n_unknown: int, n_rows: int, mapping: DataMapping,
                              hint) -> None:
    """Fatal when more than `max_bad_fraction` of the events belong to no known lead (ids in
    another format, usually); `hint()` says what the ids look like. Fewer are reported and dropped."""
    if not n_rows or n_unknown / n_rows <= mapping.max_bad_fraction:
        return
    raise BadInputError(
        f"{source}: column '{id_column}' has {n_unknown} of {n_rows} events for unknown leads "
        f"({n_unknown / n_rows:.1%}, limit {mapping.max_bad_fraction:.1%}); {hint()}"
    )


def duplicate_events_line(source: str, n_dropped: int) -> str:
    """The report line for exact duplicate events (dropped, the first of each kept)."""
    return (f"{source}: dropped {n_dropped} exact duplicate events (same lead, time, type, page, content and "
            "duration; a part file delivered twice?)")
