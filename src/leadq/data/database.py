"""Database sources: PostgreSQL and DuckDB files, read as Arrow tables.

A data source (`--data`, a config's `data.dir`) is a folder or a database URL:

- `postgresql://[user[:password]@][host][:port]/dbname[?param=value...]` (or `postgres://`),
  read through the ADBC PostgreSQL driver (libpq; results arrive as Arrow by binary COPY, never
  row by row in Python). The three tables are read in one read-only REPEATABLE READ
  transaction, so they are one consistent snapshot even while the warehouse is loading.
- `duckdb:///path/file.duckdb`, read natively and read-only. As in SQLAlchemy and MLflow's
  `sqlite:///` URIs, what follows `duckdb:///` is the path: `duckdb:///data/crm.duckdb` is
  relative to the working directory, `duckdb:////srv/crm.duckdb` absolute.

Credentials stay out of config files: `${NAME}` anywhere in a URL is replaced by the
environment variable NAME when connecting, and libpq's own variables (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGPASSFILE, PGSSLMODE, ...) fill in whatever the URL leaves out. What logs,
reports, fingerprints and messages show is `redact_url(url)`: the URL with a literal password
removed (a `${NAME}` reference is kept: it names a variable, not a secret).

Which tables: the mapping's `tables:` section gives, per contract table, a table or view
(`name` or `schema.name`, case-sensitive as stored) or a SQL `query:`; by default the
contract's own name (`leads`, `events`, `outcomes`) in the connection's default schema.
Table names are validated and quoted as identifiers, never formatted into SQL as given.
"""

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa

from leadq.core.errors import BadInputError, LeadqError
from leadq.data.mapping import DataMapping, TableSource

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DUCKDB_SCHEME = "duckdb://"
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_IDENTIFIER_CHARS = 63  # PostgreSQL's NAMEDATALEN - 1
SECRET_PARAMETERS = ("password", "sslpassword")


def is_database_url(value) -> bool:
    """True when `value` is a database URL (postgresql://, postgres://, duckdb://) rather than a path."""
    return isinstance(value, str) and value.lower().startswith((*POSTGRES_SCHEMES, DUCKDB_SCHEME))


def data_location(value) -> str | Path:
    """A `--data` / `data.dir` value as the loader takes it: the URL unchanged (a `Path` would
    fold its `//`), anything else as a `Path`."""
    return value if is_database_url(value) else Path(value)


def redact_url(value) -> str:
    """`value` as text, with a literal password removed when it is a database URL.

    `postgresql://scoring:s3cret@db/crm?password=x&sslmode=require` becomes
    `postgresql://scoring@db/crm?sslmode=require`; `${NAME}` references are kept.
    """
    text = str(value)
    if not is_database_url(text) or text.lower().startswith(DUCKDB_SCHEME):
        return text
    scheme, rest = text.split("://", 1)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        userinfo, hostport = authority.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        kept = f":{password}" if password and ENV_REFERENCE.fullmatch(password) else ""
        authority = f"{user}{kept}@{hostport}"
    path, mark, query = tail.partition("?")
    query, hash_mark, fragment = query.partition("#")
    kept_params = [p for p in query.split("&") if p and not _is_secret_parameter(p)]
    query_text = f"?{'&'.join(kept_params)}" if mark and kept_params else ""
    return f"{scheme}://{authority}{path}{query_text}{hash_mark}{fragment}"


def _is_secret_parameter(pair: str) -> bool:
    key, _, value = pair.partition("=")
    return unquote(key).lower() in SECRET_PARAMETERS and not ENV_REFERENCE.fullmatch(unquote(value))


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database URL: `kind` is "postgresql" or "duckdb"; `url` is as given."""

    kind: str
    url: str

    @property
    def redacted(self) -> str:
        """The URL as logs and messages show it (see `redact_url`)."""
        return redact_url(self.url)

    def connect_uri(self) -> str:
        """The libpq URI with `${NAME}` references replaced (URL-encoded) by the environment."""
        return _expand(self.url, self.redacted, encode=True)

    def duckdb_path(self) -> Path:
        """The DuckDB file a `duckdb:///path` URL names, `${NAME}` references expanded."""
        return Path(_expand(self.url[len(DUCKDB_SCHEME) + 1:], self.redacted, encode=False))


def parse_database_url(value: str) -> DatabaseUrl:
    """Parse a database URL; a malformed one is a one-line `BadInputError`."""
    text = str(value)
    lower = text.lower()
    if lower.startswith(DUCKDB_SCHEME):
        if not lower.startswith(DUCKDB_SCHEME + "/") or len(text) <= len(DUCKDB_SCHEME) + 1:
            raise BadInputError(f"{text}: a DuckDB URL is duckdb:///relative/path.duckdb or "
                                "duckdb:////absolute/path.duckdb")
        return DatabaseUrl("duckdb", text)
    if lower.startswith(POSTGRES_SCHEMES):
        return DatabaseUrl("postgresql", text)
    raise BadInputError(f"{redact_url(text)}: not a database URL (postgresql://... or duckdb:///...)")


def _expand(text: str, shown: str, encode: bool) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise BadInputError(f"{shown}: environment variable {name} is not set")
        return quote(os.environ[name], safe="") if encode else os.environ[name]

    return ENV_REFERENCE.sub(value, text)


def table_identifier(name: str, shown: str) -> tuple[str | None, str]:
    """(schema or None, table) of `name` / `schema.name`, each a plain SQL identifier; anything
    else is a one-line error naming where it came from (`shown`)."""
    parts = name.split(".")
    if len(parts) > 2 or not all(IDENTIFIER.fullmatch(p) and len(p) <= MAX_IDENTIFIER_CHARS for p in parts):
        raise BadInputError(
            f"{shown}: table name '{name}' must be NAME or SCHEMA.NAME of letters, digits and "
            f"underscores (at most {MAX_IDENTIFIER_CHARS} each), not starting with a digit"
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def quoted_table_name(schema: str | None, table: str) -> str:
    """`"schema"."table"` for identifiers already checked by `table_identifier`."""
    return ".".join(f'"{part}"' for part in (schema, table) if part is not None)


def source_label(url: DatabaseUrl, table: str, source: TableSource) -> str:
    """How messages and fingerprints name a database table: the redacted URL and the table."""
    if source.query is not None:
        return f"{url.redacted}, {table} query"
    return f"{url.redacted}, table {source.table}"


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """The first meaningful line of a driver's error, without its status prefix or any secret."""
    text = str(exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(exc).__name__
    return re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", line)


def read_database_tables(url_text: str, mapping: DataMapping,
                         tables: tuple[str, ...]) -> tuple[dict[str, pa.Table], dict[str, str]]:
    """Read contract `tables` from the database at `url_text` as Arrow tables, as the mapping's
    `tables:` names them. Returns the tables and, per table, the label messages use."""
    url = parse_database_url(url_text)
    sources = {table: mapping.table_source(table) for table in tables}
    labels = {table: source_label(url, table, source) for table, source in sources.items()}
    for table, source in sources.items():
        if source.table is not None:
            table_identifier(source.table, labels[table])
    read = _read_postgres if url.kind == "postgresql" else _read_duckdb
    return read(url, sources, labels), labels


@contextmanager
def postgres_connection(url: DatabaseUrl, autocommit: bool = False, error: type[LeadqError] = BadInputError):
    """An ADBC connection to PostgreSQL, closed after; failing to connect is a one-line `error`."""
    require_postgres_driver(url, error)
    import adbc_driver_postgresql.dbapi as adbc_pg

    uri = url.connect_uri()
    try:
        conn = adbc_pg.connect(uri, autocommit=autocommit)
    except adbc_pg.Error as exc:
        raise error(f"{url.redacted}: cannot connect ({one_line(exc, (uri,))})") from None
    try:
        yield conn
    finally:
        conn.close()


def postgres_driver_error():
    """The ADBC driver's base error class (for callers that catch driver errors)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    return adbc_pg.Error


def _read_postgres(url: DatabaseUrl, sources: dict[str, TableSource],
                   labels: dict[str, str]) -> dict[str, pa.Table]:
    require_postgres_driver(url)
    error = postgres_driver_error()
    result = {}
    with postgres_connection(url) as conn, conn.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table, source in sources.items():
            if source.query is not None:
                sql = source.query
            else:
                schema, name = table_identifier(source.table, labels[table])
                sql = f"SELECT * FROM {quoted_table_name(schema, name)}"
                cursor.execute("SELECT to_regclass($1) IS NOT NULL", parameters=(quoted_table_name(schema, name),))
                if not cursor.fetchall()[0][0]:
                    raise BadInputError(f"{labels[table]}: table not found for '{table}' (0 rows)")
            try:
                cursor.execute(sql)
                result[table] = cursor.fetch_arrow_table()
            except error as exc:
                raise BadInputError(f"{labels[table]}: cannot be read ({one_line(exc)})") from None
        conn.rollback()
    return result


def require_postgres_driver(url: DatabaseUrl, error: type[LeadqError] = BadInputError) -> None:
    """A one-line `error` when the PostgreSQL driver (the 'postgres' extra) is not installed."""
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        raise error(f"{url.redacted}: PostgreSQL needs the 'postgres' extra: "
                    "pip install 'leadq[postgres]'") from None


def _read_duckdb(url: DatabaseUrl, sources: dict[str, TableSource],
                 labels: dict[str, str]) -> dict[str, pa.Table]:
    import duckdb

    path = url.duckdb_path()
    if not path.is_file():
        raise BadInputError(f"{url.redacted}: DuckDB file {path} not found (0 rows)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise BadInputError(f"{url.redacted}: cannot be opened ({one_line(exc)})") from None
    result = {}
    try:
        for table, source in sources.items():
            try:
                if source.query is not None:
                    relation = con.sql(source.query)
                else:
                    schema, name = table_identifier(source.table, labels[table])
                    # With the catalog named, a schema named like the file (crm.duckdb, schema crm)
                    # is not ambiguous.
                    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
                    qualified = quoted_table_name(schema, name)
                    relation = con.table(f'"{catalog.replace(chr(34), chr(34) * 2)}".{qualified}' if schema else qualified)
                result[table] = relation.to_arrow_table()
            except duckdb.CatalogException as exc:
                if source.query is None:
                    raise BadInputError(f"{labels[table]}: table not found for '{table}' (0 rows)") from None
                raise BadInputError(f"{labels[table]}: cannot be read ({one_line(exc)})") from None
            except duckdb.Error as exc:
                raise BadInputError(f"{labels[table]}: cannot be read ({one_line(exc)})") from None
    finally:
        con.close()
    return result
