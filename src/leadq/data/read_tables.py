"""Find a contract table among a user's files and read it into DuckDB as it is written.

`tables:` in the mapping names each table's file: a file or folder stem (`contacts` finds
`contacts.parquet`, `contacts.csv` or a folder `contacts/`) or a path with its suffix, relative
to `--data` unless absolute. Unnamed tables keep their contract name (`leads`, `events`,
`outcomes`).

CSV files are read with their sniffed or configured dialect (`leadq.data.csv_dialect`), every
column as text; a file written with decimal commas gets its numbers rewritten with a decimal
point (`1.234,5` -> `1234.5`) so that numbers parse the same whatever the locale. Parquet keeps
its native types. Paths reach DuckDB as bound values, never as SQL text.
"""

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from leadq.core.errors import BadInputError
from leadq.core.files import TABLE_SUFFIXES, find_table
from leadq.data.bound import bind_value, quote_identifier
from leadq.data.csv_dialect import SNIFF_BYTES, CsvDialect, CsvOptions, check_header, sniff_csv

# A number written with a decimal comma, optionally with '.' thousands groups; and a whole number
# written with '.' thousands groups only.
_COMMA_NUMBER = r"[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]*),[0-9]+"
_GROUPED_INTEGER = r"[+-]?[0-9]{1,3}(\.[0-9]{3})+"


@dataclass
class ReadTable:
    """A table read into DuckDB: where from, in which format, and notes about the reading."""

    source: str
    files: list[Path]
    fmt: str
    dialect: CsvDialect | None = None
    notes: list[str] = field(default_factory=list)


def locate_table(data_dir: Path, table: str, named: str | None = None, required: bool = True
                 ) -> tuple[list[Path], str] | None:
    """The files of contract table `table` in `data_dir`, and their format ("csv" or "parquet").

    `named` is the mapping's `tables:` entry: a stem or a path with its suffix (relative to
    `data_dir` unless absolute). Without `required`, an absent table gives None.
    """
    data_dir = Path(data_dir)
    name = named or table
    path = Path(name)
    if not path.is_absolute():
        path = data_dir / path
    try:
        if path.suffix.lower() in TABLE_SUFFIXES:
            if path.is_file():
                return [path], path.suffix.lower().lstrip(".")
            raise BadInputError(f"{path}: file for table '{table}' not found (tables.{table} in the mapping; 0 rows)")
        return find_table(path.parent, path.name)
    except BadInputError:
        if required:
            if named and not path.suffix:
                raise BadInputError(
                    f"{data_dir}: table '{table}' named '{named}' in the mapping not found (looked for "
                    f"{path.name}.parquet, {path.name}.csv, {path.name}/; 0 rows)") from None
            raise
        return None


def locate_tables(data_dir: Path, table: str, named: str | list[str] | None = None, required: bool = True
                  ) -> tuple[list[Path], str] | None:
    """`locate_table` for a `tables:` entry that may list several files or stems, read as one
    table (they must all be CSV or all Parquet)."""
    if not isinstance(named, list):
        return locate_table(data_dir, table, named, required)
    found = [locate_table(data_dir, table, name, required) for name in named]
    found = [f for f in found if f is not None]
    if not found:
        return None
    formats = {fmt for _, fmt in found}
    if len(formats) > 1:
        raise BadInputError(f"{data_dir}: the files of table '{table}' ({', '.join(named)}) mix CSV and Parquet; "
                            "convert them to one format (0 rows read)")
    return [path for files, _ in found for path in files], found[0][1]


def gather_listed_columns(con: duckdb.DuckDBPyConnection, relation: str, listed: dict[str, list[str]]) -> None:
    """Add to `relation` (renamed `<relation>_read`, seen through a view of the old name) one
    column per entry of `listed`: "A or B" holds, row by row, the first of A, B with a value.
    Listed columns absent from the table are skipped; with none present, nothing is added."""
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {relation}").fetchall()}
    added = []
    for name, columns in listed.items():
        present = [c for c in columns if c in types]
        if not present or name in types:
            continue
        same_type = len({types[c] for c in present}) == 1 and types[present[0]].upper() != "VARCHAR"
        parts = [quote_identifier(c) if same_type else f"nullif(trim(CAST({quote_identifier(c)} AS VARCHAR)), '')"
                 for c in present]
        added.append(f"coalesce({', '.join(parts)}) AS {quote_identifier(name)}")
    if not added:
        return
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                       [relation]).fetchall()[0][0]
    con.execute(f"ALTER {'VIEW' if kind == 'VIEW' else 'TABLE'} {relation} RENAME TO {relation}_read")
    con.execute(f"CREATE TEMP VIEW {relation} AS SELECT *, {', '.join(added)} FROM {relation}_read")


def _describe_source(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{files[0].parent}/"


def _create_from_csv(con, relation: str, files: list[Path], dialect: CsvDialect, materialise: bool) -> None:
    """`relation` over `files` read with `dialect`: a temp table (parsed once), or a view
    (parsed at each scan, holding nothing in memory). Decimal commas are rewritten either way.
    Several files are matched by column name; one file is read without `union_by_name`, which
    gives the same table but would have DuckDB sniff the file twice."""
    by_name = ", union_by_name=true" if len(files) > 1 else ""
    scan = (f"read_csv({bind_value(con, [str(p) for p in files])}, header=true, "
            f"delim={bind_value(con, dialect.delimiter)}, quote={bind_value(con, dialect.quote)}, "
            f"encoding={bind_value(con, dialect.encoding)}, all_varchar=true{by_name})")
    kind = "TABLE" if materialise else "VIEW"
    if dialect.decimal != ",":
        con.execute(f"CREATE OR REPLACE TEMP {kind} {relation} AS SELECT * FROM {scan}")
        return
    con.execute(f"CREATE OR REPLACE TEMP VIEW {relation}_text AS SELECT * FROM {scan}")
    select = ", ".join(_decimal_point_sql(name) for name, *_ in con.execute(f"DESCRIBE {relation}_text").fetchall())
    con.execute(f"CREATE OR REPLACE TEMP {kind} {relation} AS SELECT {select} FROM {relation}_text")


def _decimal_point_sql(name: str) -> str:
    """A text column with numbers written with a decimal comma rewritten with a point."""
    col = quote_identifier(name)
    return (f"CASE WHEN contains({col}, ',') AND regexp_full_match(trim({col}), '{_COMMA_NUMBER}') "
            f"THEN replace(replace(trim({col}), '.', ''), ',', '.') "
            f"WHEN contains({col}, '.') AND regexp_full_match(trim({col}), '{_GROUPED_INTEGER}') "
            f"THEN replace(trim({col}), '.', '') ELSE {col} END AS {col}")


def latin1_note(source: str) -> str:
    """The report line for a file read again as Latin-1."""
    return (f"{source}: not UTF-8 beyond its first {SNIFF_BYTES >> 10} kB: read as Latin-1; set csv.encoding in "
            "the mapping if that is wrong")


def read_csv_table(con: duckdb.DuckDBPyConnection, relation: str, files: list[Path],
                   options: CsvOptions | None = None, materialise: bool = True) -> CsvDialect:
    """CSV `files` (one table, read together) as `relation`, all columns text; returns the
    dialect used. A temp table unless `materialise` is false (a view, scanned at each query).
    A file found not to be UTF-8 beyond the sniffed sample is read again as Latin-1 unless the
    options fix the encoding (with a view, only what DuckDB's own sniffing reads is checked
    here: `reread_as_latin1` is for a later scan that fails)."""
    options = options or CsvOptions()
    dialect = sniff_csv(files[0], options)
    source = _describe_source(files)
    try:
        try:
            _create_from_csv(con, relation, files, dialect, materialise)
        except duckdb.Error as exc:
            if not can_reread_as_latin1(exc, options, dialect):
                raise
            reread_as_latin1(con, relation, files, dialect, materialise)
    except duckdb.Error as exc:
        raise BadInputError(f"{source}: cannot be read as csv ({str(exc).strip().splitlines()[0]})") from None
    columns = [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()]
    n_rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0] if materialise else None
    check_header(source, columns, dialect.delimiter, n_rows)
    return dialect


def can_reread_as_latin1(exc: Exception, options: CsvOptions | None, dialect: CsvDialect) -> bool:
    """Whether a DuckDB error is a UTF-8 decoding failure of a file whose encoding was guessed."""
    return (not (options and options.encoding) and dialect.encoding == "utf-8"
            and "unicode" in str(exc).lower())


def reread_as_latin1(con: duckdb.DuckDBPyConnection, relation: str, files: list[Path], dialect: CsvDialect,
                     materialise: bool) -> None:
    """`relation` created again over `files` read as Latin-1, with a note in `dialect.notes`."""
    dialect.encoding = "latin-1"
    dialect.notes.append(latin1_note(_describe_source(files)))
    _create_from_csv(con, relation, files, dialect, materialise)


def read_parquet_view(con: duckdb.DuckDBPyConnection, relation: str, files: list[Path]) -> None:
    """Parquet `files` (one table) as view `relation`, scanned again when queried."""
    paths = bind_value(con, [str(p) for p in files])
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT * FROM read_parquet({paths}, union_by_name=true)")
        con.execute(f"SELECT * FROM {relation} LIMIT 0")
    except duckdb.Error as exc:
        raise BadInputError(f"{_describe_source(files)}: cannot be read as parquet "
                            f"({str(exc).strip().splitlines()[0]})") from None


def read_table(con: duckdb.DuckDBPyConnection, relation: str, files: list[Path], fmt: str,
               options: CsvOptions | None = None) -> ReadTable:
    """One table's files as `relation` in `con`: CSV as a text temp table, Parquet as a view."""
    if fmt == "csv":
        dialect = read_csv_table(con, relation, files, options)
        return ReadTable(_describe_source(files), files, fmt, dialect, list(dialect.notes))
    read_parquet_view(con, relation, files)
    return ReadTable(_describe_source(files), files, fmt)
