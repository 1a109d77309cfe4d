"""A lead-level export (one row per lead) read and typed by DuckDB and Arrow, column at a time,
never cell by cell in Python.

`read_lead_cells` reads a CSV (its dialect sniffed or set, see `leadq.data.csv_dialect`) or
Parquet file into a view of its cells: column names trimmed; text trimmed of spaces, tabs,
line breaks and no-break spaces (`TRIM_CHARS`), with placeholder values (compared trimmed and
in any case) and empty text as NULL; other types as stored. The SQL builders below turn a
column into an id, a 0/1 label or a finite number; `fetch` runs one query and returns Arrow
columns, so that ids, labels and features of a row come from the same scan and stay aligned.
Category columns are fetched as written and cleaned once per distinct value (`categories`),
which costs a fraction of cleaning every cell in SQL; the result is the same.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadq.core.errors import BadInputError
from leadq.data.bound import bind_value, quote_identifier
from leadq.data.csv_dialect import CsvOptions
from leadq.data.read_tables import read_csv_table, read_parquet_view, reread_as_latin1
from leadq.data.timestamps import is_numeric

CELLS = "lead_cells"
TRIM_CHARS = " \t\r\n\u00a0"
TRUE_LABELS = ("1", "1.0", "yes", "y", "true", "t")
FALSE_LABELS = ("0", "0.0", "no", "n", "false", "f")
SUFFIXES = (".csv", ".txt", ".parquet")


@dataclass
class LeadCells:
    """The cells of a lead-level file as view `CELLS` of `con`, with each column's DuckDB type.

    `reread`, for a CSV file streamed with a guessed UTF-8 encoding, reads it again as Latin-1
    when a scan finds it is not UTF-8 (`fetch` calls it)."""

    con: duckdb.DuckDBPyConnection
    source: str
    types: dict[str, str]
    notes: list[str] = field(default_factory=list)
    reread: Callable[[], None] | None = None
    counted_rows: int | None = None
    placeholders: list[str] = field(default_factory=list)
    """The missing-value placeholders, trimmed and lower-cased."""
    trim_chars: str = ""
    """SQL reading `TRIM_CHARS` (a bound value)."""
    raw: dict[str, str] = field(default_factory=dict)
    """Column -> the name of its cells as written, also in view `CELLS`."""

    @property
    def columns(self) -> list[str]:
        """Column names in file order (trimmed)."""
        return list(self.types)

    @property
    def n_rows(self) -> int:
        """Rows in the file (counted once, when first asked: a streamed file is scanned for it)."""
        if self.counted_rows is None:
            self.counted_rows = int(run_query(self, f"SELECT count(*) FROM {CELLS}")[0][0])
        return self.counted_rows


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=false")
    return con


def read_lead_cells(path: Path | str, missing_values: list[str], csv: CsvOptions | None = None,
                    materialise: bool = True) -> LeadCells:
    """Read the file at `path` (.csv, .txt or .parquet) into view `CELLS` of a new connection.

    A CSV file is parsed once into a temp table, or with `materialise` false streamed at each
    scan (for one pass over a file too large to hold twice: scoring). A missing file, an
    unreadable one, a header naming a column twice or holding another delimiter are one-line
    errors naming the file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise BadInputError(f"{path}: lead table not found (0 rows)")
    if path.suffix.lower() not in SUFFIXES:
        raise BadInputError(f"{path}: a lead table must be .csv or .parquet")
    con = _connect()
    notes: list[str] = []
    reread = None
    if path.suffix.lower() == ".parquet":
        read_parquet_view(con, "lead_raw", [path])
        header = [row[0] for row in con.execute("DESCRIBE lead_raw").fetchall()]
    else:
        dialect = read_csv_table(con, "lead_raw", [path], csv, materialise)
        notes += dialect.notes
        header = dialect.header or [row[0] for row in con.execute("DESCRIBE lead_raw").fetchall()]
        if not materialise and not (csv and csv.encoding) and dialect.encoding == "utf-8":
            def reread() -> None:
                reread_as_latin1(con, "lead_raw", [path], dialect, False)
                notes.append(dialect.notes[-1])
    raw_types = [(row[0], row[1]) for row in con.execute("DESCRIBE lead_raw").fetchall()]
    cells = LeadCells(con=con, source=source, types={}, notes=notes, reread=reread)
    names = [str(h).strip() for h in header]
    if len(names) != len(raw_types):  # the sniffed header is not what DuckDB read: trust DuckDB
        names = [name for name, _ in raw_types]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadInputError(f"{path}: column '{name}' appears twice in the header "
                                f"({run_query(cells, 'SELECT count(*) FROM lead_raw')[0][0]} rows)")
        seen.add(name)
    cells.placeholders = sorted({str(v).strip(TRIM_CHARS).lower() for v in missing_values})
    cells.trim_chars = bind_value(con, TRIM_CHARS)
    placeholders = bind_value(con, cells.placeholders or [""])
    select, types = [], {}
    for i, (name, (raw_name, column_type)) in enumerate(zip(names, raw_types)):
        col = quote_identifier(raw_name)
        cells.raw[name] = f"__raw_{i}"
        if column_type.upper() == "VARCHAR":
            text = f"trim({col}, {cells.trim_chars})"
            select.append(f"CASE WHEN {text} = '' OR list_contains({placeholders}, lower({text})) THEN NULL "
                          f"ELSE {text} END AS {quote_identifier(name)}")
        else:
            select.append(f"{col} AS {quote_identifier(name)}")
        select.append(f"{col} AS {cells.raw[name]}")  # not computed unless a query reads it
        types[name] = column_type
    con.execute(f"CREATE TEMP VIEW {CELLS} AS SELECT {', '.join(select)} FROM lead_raw")
    cells.types = types
    return cells


def run_query(cells: LeadCells, sql: str, arrow: bool = False):
    """The rows of `sql` on the cells' connection (an Arrow table with `arrow`). A file found
    not to be UTF-8 mid-scan is read again as Latin-1 when its encoding was a guess (and the
    query run again), and any other reading failure is a one-line error."""
    try:
        relation = cells.con.sql(sql)
        return relation.to_arrow_table() if arrow else relation.fetchall()
    except (duckdb.Error, OSError) as exc:  # Arrow reports a failure mid-stream as an OSError
        _reread_or_fail(cells, exc)
        return run_query(cells, sql, arrow)


def _reread_or_fail(cells: LeadCells, exc: Exception) -> None:
    """After a failed scan: switch the cells to Latin-1 when the file proved not UTF-8 and its
    encoding was a guess (the caller scans again), else the one-line error."""
    if cells.reread is not None and "unicode" in str(exc).lower():
        cells.reread()
        cells.reread = None
        return
    raise BadInputError(f"{cells.source}: cannot be read ({str(exc).strip().splitlines()[0]})") from None


def text_sql(column: str) -> str:
    """A cell as text (NULL stays NULL)."""
    return f"CAST({quote_identifier(column)} AS VARCHAR)"


def written_text_sql(cells: LeadCells, column: str) -> str:
    """A column's cells as written, as text (placeholders and spaces kept: `categories` cleans)."""
    return f"CAST({cells.raw[column]} AS VARCHAR)"


def id_sql(cells: LeadCells, column: str) -> str:
    """A lead id: the cell as written, trimmed, empty as NULL (a placeholder is an id)."""
    return f"nullif(trim({written_text_sql(cells, column)}, {cells.trim_chars}), '')"


def label_sql(column: str) -> str:
    """A 0/1 label as 1.0 / 0.0: 0/1, yes/no, y/n, true/false, t/f in any case; else NULL."""
    value = f"lower(trim({text_sql(column)}))"
    yes = ", ".join(f"'{v}'" for v in TRUE_LABELS)
    no = ", ".join(f"'{v}'" for v in FALSE_LABELS)
    return f"CASE WHEN {value} IN ({yes}) THEN 1.0 WHEN {value} IN ({no}) THEN 0.0 END"


def number_sql(cells: LeadCells, column: str) -> str:
    """A column's cells as finite DOUBLEs (unparseable text, placeholders and infinities as NULL)."""
    column_type = cells.types[column].upper()
    raw = cells.raw[column]
    if column_type == "BOOLEAN":
        return "CAST(NULL AS DOUBLE)"
    if is_numeric(column_type):
        value = f"CAST({raw} AS DOUBLE)"
    else:
        # DuckDB's cast skips spaces itself; other blanks (tabs, no-break spaces) are trimmed only
        # for the cells that fail without.
        value = (f"coalesce(TRY_CAST({raw} AS DOUBLE), "
                 f"TRY_CAST(trim({raw}, {cells.trim_chars}) AS DOUBLE))")
        if any(_is_number(p) for p in cells.placeholders):  # a placeholder that parses: test for it
            value = (f"CASE WHEN list_contains({bind_value(cells.con, cells.placeholders)}, "
                     f"lower(trim({raw}, {cells.trim_chars}))) THEN NULL ELSE {value} END")
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def profile_columns(cells: LeadCells, columns: list[str], where: str = "true") -> dict[str, dict[str, int]]:
    """Per column, over the rows meeting `where`: `filled` (non-missing cells), `numeric` (of
    them, finite numbers) and `distinct` (distinct filled values), in one scan."""
    if not columns:
        return {}
    parts = []
    for name in columns:
        col = quote_identifier(name)
        parts += [f"count({col})", f"count({number_sql(cells, name)})", f"count(DISTINCT {text_sql(name)})"]
    row = run_query(cells, f"SELECT {', '.join(parts)} FROM {CELLS} WHERE {where}")[0]
    return {name: {"filled": int(row[3 * i]), "numeric": int(row[3 * i + 1]), "distinct": int(row[3 * i + 2])}
            for i, name in enumerate(columns)}


def _select_sql(select: dict[str, str], where: str) -> str:
    expressions = ", ".join(f"{sql} AS {quote_identifier(alias)}" for alias, sql in select.items())
    return f"SELECT {expressions} FROM {CELLS} WHERE {where}"


def fetch(cells: LeadCells, select: dict[str, str], where: str = "true") -> pa.Table:
    """One scan of the cells: the named SQL expressions for the rows meeting `where`, in file
    order, as an Arrow table."""
    return run_query(cells, _select_sql(select, where), arrow=True)


class ReadAgain(Exception):
    """A scan found the file not UTF-8 after its first batches: the cells now read it as
    Latin-1, and whoever consumed batches must start over."""


def fetch_batches(cells: LeadCells, select: dict[str, str], rows: int) -> Iterator[pa.Table]:
    """One streamed scan of every row of the cells: the named SQL expressions as Arrow tables of
    at least `rows` rows each (the last one may be shorter, and there is always one), in file
    order. Memory holds one batch, not the file. A file found not to be UTF-8 mid-scan, its
    encoding a guess, raises `ReadAgain`; any other reading failure is a one-line error."""
    try:
        reader = cells.con.sql(_select_sql(select, "true")).to_arrow_reader(rows)
        pending: list[pa.RecordBatch] = []
        held, sent = 0, False
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            if held >= rows:
                yield pa.Table.from_batches(pending, schema=reader.schema)
                pending, held, sent = [], 0, True
        if pending or not sent:
            yield pa.Table.from_batches(pending, schema=reader.schema)
    except (duckdb.Error, OSError) as exc:  # Arrow reports a failure mid-stream as an OSError
        _reread_or_fail(cells, exc)
        raise ReadAgain() from None


def numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow column as float64 with NaN for missing values."""
    return pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy()


def categories(column: pa.ChunkedArray, placeholders: list[str] | None = None) -> np.ndarray:
    """A text Arrow column as an object array of labels, trimmed of `TRIM_CHARS`, with None for
    missing values, empty text and `placeholders` (trimmed, lower-case; matched in any case).
    Each distinct value is cleaned once and is one Python string shared by its rows."""
    return clean_categories(column, placeholders)[0]


def clean_categories(column: pa.ChunkedArray, placeholders: list[str] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`categories`, and which rows are missing (a boolean array)."""
    labels, is_missing, codes = _cleaned_dictionary(column, placeholders)
    return labels[codes], is_missing[codes]


def category_codes(column: pa.ChunkedArray, placeholders: list[str] | None = None
                   ) -> tuple[pd.Categorical, np.ndarray]:
    """`categories` as a pandas Categorical (each cleaned label once, missing as NaN), and
    which rows are missing: the same labels without a Python object per row."""
    labels, is_missing, codes = _cleaned_dictionary(column, placeholders)
    label_codes, distinct = pd.factorize(labels, use_na_sentinel=True)  # None: -1
    categories = pd.Index(np.asarray(distinct, dtype=object), dtype=object)
    return pd.Categorical.from_codes(label_codes[codes], categories=categories), is_missing[codes]


def _cleaned_dictionary(column: pa.ChunkedArray, placeholders: list[str] | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cleaned label per distinct cell, None for missing ones; which are missing; each row's
    index into them). The last entry stands for NULL cells."""
    encoded = pc.dictionary_encode(pc.cast(column, pa.string())).combine_chunks()
    values = pc.utf8_trim(encoded.dictionary, characters=TRIM_CHARS)
    missing = pc.equal(values, "")
    if placeholders:
        missing = pc.or_(missing, pc.is_in(pc.utf8_lower(values), value_set=pa.array(placeholders, pa.string())))
    labels = np.append(values.to_numpy(zero_copy_only=False).astype(object), None)
    is_missing = np.append(missing.to_numpy(zero_copy_only=False), True)
    labels[is_missing] = None
    codes = pc.fill_null(encoded.indices, len(labels) - 1).to_numpy()
    return labels, is_missing, codes
