"""A user's strings (formats, patterns, stage names, paths) handed to DuckDB as values, never as SQL.

Views cannot take prepared parameters, so a value a view needs is stored in a connection
variable with a bound parameter (`SET VARIABLE name = ?`) and the SQL refers to it by its
generated name (`getvariable('leadq_v3')`). DuckDB folds the variable into a constant when it
plans the query, so a pattern or a format bound this way costs what a literal costs.
"""

import itertools

import duckdb

_counter = itertools.count()


def bind_value(con: duckdb.DuckDBPyConnection, value) -> str:
    """Store `value` (a string, number or list of strings) in a fresh variable of `con`;
    returns the SQL expression that reads it."""
    name = f"leadq_v{next(_counter)}"
    con.execute(f"SET VARIABLE {name} = ?", [value])
    return f"getvariable('{name}')"


def quote_identifier(name: str) -> str:
    """A column name as a quoted SQL identifier (any characters, quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'
