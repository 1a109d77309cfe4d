"""How a lead attribute is read, the same way at training and at scoring.

The leads table keeps each attribute as it was read (text from CSV, native types from Parquet).
Whether a column is numeric or categorical is decided once, at training, and recorded in the
model's feature spec (`numeric_attributes`, `categorical_attributes`); every later read applies
that record, whatever the scoring data would suggest on its own:

- numeric: the value without surrounding spaces, empty as missing, parsed as a double; text that
  does not parse and non-finite numbers (`inf`, `-infinity`, `NaN`) are missing, and counted
  (`unparseable_numbers`) so a command can report them or stop;
- categorical: the value as text, unchanged (a number stored as text stays `2`, never `2.0`).
"""

import duckdb

from leadq.data.bound import quote_identifier

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def numeric_sql(column: str) -> str:
    """SQL reading `column` as a finite double (NULL when empty, unparseable or non-finite)."""
    value = f"TRY_CAST(nullif(trim(CAST({quote_identifier(column)} AS VARCHAR)), '') AS DOUBLE)"
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def categorical_sql(column: str) -> str:
    """SQL reading `column` as a category label (text, unchanged)."""
    return f"CAST({quote_identifier(column)} AS VARCHAR)"


def attribute_sql(column: str, kind: str) -> str:
    """SQL reading attribute `column` as `kind` ("numeric" or "categorical")."""
    return numeric_sql(column) if kind == NUMERIC else categorical_sql(column)


def unparseable_numbers(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> dict[str, tuple[int, int]]:
    """Per column read as numeric: (filled values that are not finite numbers, filled values)."""
    if not columns:
        return {}
    parts = []
    for name in columns:
        filled = f"nullif(trim(CAST({quote_identifier(name)} AS VARCHAR)), '')"
        parts += [f"count({filled})", f"count({numeric_sql(name)})"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {quote_identifier(table)}").fetchall()[0]
    return {name: (int(row[2 * i]) - int(row[2 * i + 1]), int(row[2 * i])) for i, name in enumerate(columns)}


def report_unparseable_numbers(con: duckdb.DuckDBPyConnection, source: str, columns: list[str],
                               report: list[str], max_bad_fraction: float | None = None) -> None:
    """Append one report line per numeric attribute holding values that are not finite numbers
    (they are read as missing). With `max_bad_fraction`, a column over that share of its filled
    values is a one-line `BadInputError` instead (the model was trained on numbers there)."""
    from leadq.core.errors import BadInputError

    for name, (n_bad, n_filled) in unparseable_numbers(con, "leads", columns).items():
        if not n_bad:
            continue
        share = n_bad / n_filled
        if max_bad_fraction is not None and share > max_bad_fraction:
            raise BadInputError(
                f"{source}: column '{name}' has {n_bad} of {n_filled} filled rows that are not numbers "
                f"({share:.1%}, limit {max_bad_fraction:.1%}); the model reads '{name}' as numeric"
            )
        report.append(f"{source}: {n_bad} values of column '{name}' are not finite numbers, read as missing")
