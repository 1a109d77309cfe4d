"""A lead-level export (one row per lead) read and typed by DuckDB, column at a time, never cell
by cell in Python.

`read_lead_cells` reads a CSV (its dialect sniffed or set, see `leadq.data.csv_dialect`) or
Parquet file into a view of its cells: column names trimmed, text trimmed, placeholder values
(compared trimmed and in any case) and empty text as NULL, other types as stored. The SQL
builders below turn a cell column into an id, a 0/1 label, a finite number or a category label;
`fetch` runs one query and returns Arrow columns, so that ids, labels and features of a row come
from the same scan and stay aligned; `numbers` and `categories` turn Arrow columns into the
arrays the models take (categories dictionary-decoded: one Python string per distinct label).
"""

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadq.core.errors import BadInputError
from leadq.data.bound import bind_value, quote_identifier
from leadq.data.csv_dialect import CsvOptions
from leadq.data.read_tables import read_csv_table, read_parquet_view
from leadq.data.timestamps import is_numeric

CELLS = "lead_cells"
TRUE_LABELS = ("1", "1.0", "yes", "y", "true", "t")
FALSE_LABELS = ("0", "0.0", "no", "n", "false", "f")
SUFFIXES = (".csv", ".txt", ".parquet")


@dataclass
class LeadCells:
    """The cells of a lead-level file as view `CELLS` of `con`, with each column's DuckDB type."""

    con: duckdb.DuckDBPyConnection
    source: str
    types: dict[str, str]
    n_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Column names in file order (trimmed)."""
        return list(self.types)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=false")
    return con


def read_lead_cells(path: Path | str, missing_values: list[str], csv: CsvOptions | None = None) -> LeadCells:
    """Read the file at `path` (.csv, .txt or .parquet) into view `CELLS` of a new connection.

    A missing file, an unreadable one, a header naming a column twice or holding another
    delimiter are one-line errors naming the file."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise BadInputError(f"{path}: lead table not found (0 rows)")
    if path.suffix.lower() not in SUFFIXES:
        raise BadInputError(f"{path}: a lead table must be .csv or .parquet")
    con = _connect()
    notes: list[str] = []
    if path.suffix.lower() == ".parquet":
        read_parquet_view(con, "lead_raw", [path])
        header = [row[0] for row in con.execute("DESCRIBE lead_raw").fetchall()]
    else:
        dialect = read_csv_table(con, "lead_raw", [path], csv)
        notes += dialect.notes
        header = dialect.header or [row[0] for row in con.execute("DESCRIBE lead_raw").fetchall()]
    raw_types = [(row[0], row[1]) for row in con.execute("DESCRIBE lead_raw").fetchall()]
    n_rows = con.execute("SELECT count(*) FROM lead_raw").fetchall()[0][0]
    names = [str(h).strip() for h in header]
    if len(names) != len(raw_types):  # the sniffed header is not what DuckDB read: trust DuckDB
        names = [name for name, _ in raw_types]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadInputError(f"{path}: column '{name}' appears twice in the header ({n_rows} rows)")
        seen.add(name)
    placeholders = bind_value(con, sorted({str(v).strip().lower() for v in missing_values}) or [""])
    select, types = [], {}
    for name, (raw_name, column_type) in zip(names, raw_types):
        col = quote_identifier(raw_name)
        if column_type.upper() == "VARCHAR":
            text = f"trim({col})"
            select.append(f"CASE WHEN {text} = '' OR list_contains({placeholders}, lower({text})) THEN NULL "
                          f"ELSE {text} END AS {quote_identifier(name)}")
        else:
            select.append(f"{col} AS {quote_identifier(name)}")
        types[name] = column_type
    con.execute(f"CREATE TEMP VIEW {CELLS} AS SELECT {', '.join(select)} FROM lead_raw")
    return LeadCells(con=con, source=source, types=types, n_rows=int(n_rows), notes=notes)


def text_sql(column: str) -> str:
    """A cell as text (NULL stays NULL)."""
    return f"CAST({quote_identifier(column)} AS VARCHAR)"


def id_sql(column: str) -> str:
    """A lead id: the cell as trimmed text, empty as NULL."""
    return f"nullif(trim({text_sql(column)}), '')"


def label_sql(column: str) -> str:
    """A 0/1 label as 1.0 / 0.0: 0/1, yes/no, y/n, true/false, t/f in any case; else NULL."""
    value = f"lower(trim({text_sql(column)}))"
    yes = ", ".join(f"'{v}'" for v in TRUE_LABELS)
    no = ", ".join(f"'{v}'" for v in FALSE_LABELS)
    return f"CASE WHEN {value} IN ({yes}) THEN 1.0 WHEN {value} IN ({no}) THEN 0.0 END"


def number_sql(column: str, column_type: str) -> str:
    """A cell as a finite DOUBLE (unparseable text and infinities as NULL)."""
    if column_type.upper() in ("BOOLEAN",):
        return "CAST(NULL AS DOUBLE)"
    value = (f"CAST({quote_identifier(column)} AS DOUBLE)" if is_numeric(column_type)
             else f"TRY_CAST({text_sql(column)} AS DOUBLE)")
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def profile_columns(cells: LeadCells, columns: list[str], where: str = "true") -> dict[str, dict[str, int]]:
    """Per column, over the rows meeting `where`: `filled` (non-missing cells), `numeric` (of
    them, finite numbers) and `distinct` (distinct filled values), in one scan."""
    if not columns:
        return {}
    parts = []
    for name in columns:
        col = quote_identifier(name)
        parts += [f"count({col})", f"count({number_sql(name, cells.types[name])})",
                  f"count(DISTINCT {text_sql(name)})"]
    row = cells.con.execute(f"SELECT {', '.join(parts)} FROM {CELLS} WHERE {where}").fetchall()[0]
    return {name: {"filled": int(row[3 * i]), "numeric": int(row[3 * i + 1]), "distinct": int(row[3 * i + 2])}
            for i, name in enumerate(columns)}


def fetch(cells: LeadCells, select: dict[str, str], where: str = "true") -> pa.Table:
    """One scan of the cells: the named SQL expressions for the rows meeting `where`, in file
    order, as an Arrow table."""
    expressions = ", ".join(f"{sql} AS {quote_identifier(alias)}" for alias, sql in select.items())
    return cells.con.sql(f"SELECT {expressions} FROM {CELLS} WHERE {where}").to_arrow_table()


def numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow column as float64 with NaN for missing values."""
    return pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy()


def categories(column: pa.ChunkedArray) -> np.ndarray:
    """A text Arrow column as an object array of labels with None for missing values; each
    distinct label is one shared Python string."""
    encoded = pc.dictionary_encode(pc.cast(column, pa.string())).combine_chunks()
    labels = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
    codes = pc.fill_null(encoded.indices, len(labels) - 1).to_numpy()
    return labels[codes]
