"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, a server on a
free loopback port with its socket in that folder, stopped and removed after.

PostgreSQL refuses to run as root; as root (CI) the cluster belongs to the `postgres` user (or
`nobody`) and the server binaries run through `runuser`.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scratch_space import shared_memory_folder

SERVER_USER = "leadq"


@dataclass
class PostgresServer:
    """A running cluster: its folder, port and the URL of its `postgres` database."""

    root: Path
    port: int
    bindir: Path
    run_as: str | None

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """postgresql://leadq[:password]@127.0.0.1:PORT/DATABASE (trust auth: any password)."""
        secret = f":{password}" if password else ""
        return f"postgresql://{SERVER_USER}{secret}@127.0.0.1:{self.port}/{database}"


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: pg_config's, else the newest Debian one, else PATH."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _run(server_user: str | None, command: list[str]) -> subprocess.CompletedProcess:
    if server_user is not None:
        command = ["runuser", "-u", server_user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def start_server(bindir: Path) -> PostgresServer:
    """initdb and start a cluster; raises RuntimeError with the server's log when it fails."""
    # Not under pytest's tmp_path: its parents are private to root, and the server user must
    # reach the folder.
    # in memory when there is room: a test database is a thousand small files (scratch_space.py)
    root = Path(tempfile.mkdtemp(prefix="leadq-pg-", dir=shared_memory_folder()))
    run_as = _unprivileged_user()
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(root, user.pw_uid, user.pw_gid)
    init = _run(run_as, [str(bindir / "initdb"), "-D", str(root / "data"), "-U", SERVER_USER, "--auth=trust",
                         "--no-locale", "-E", "UTF8", "--no-sync"])
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    for _ in range(3):  # another process may take the free port first
        port = _free_port()
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB")
        started = _run(run_as, [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", options,
                                "-l", str(root / "server.log"), "-w", "-t", "60", "start"])
        if started.returncode == 0:
            return PostgresServer(root=root, port=port, bindir=bindir, run_as=run_as)
    log = (root / "server.log").read_text() if (root / "server.log").exists() else started.stderr
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"pg_ctl start failed: {log.strip()[-2000:]}")


def stop_server(server: PostgresServer) -> None:
    """Stop the cluster (fast shutdown) and remove its folder."""
    _run(server.run_as, [str(server.bindir / "pg_ctl"), "-D", str(server.root / "data"), "-m", "fast", "-w",
                         "stop"])
    shutil.rmtree(server.root, ignore_errors=True)


def create_database(server: PostgresServer, name: str) -> str:
    """A new empty database on the cluster; returns its URL."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(server.url(), autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)


def arrow_for_ingest(frame):
    """A pandas frame or Arrow table as Arrow with plain strings (what the driver ingests)."""
    import pyarrow as pa

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(None)
    return table.cast(pa.schema([pa.field(f.name, pa.string() if f.type == pa.large_string() else f.type)
                                 for f in table.schema]))


def copy_tables(url: str, tables: dict) -> None:
    """Create (or replace) one PostgreSQL table per entry, `name` or `schema.name`, from frames."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(url) as conn, conn.cursor() as cursor:
        for name, frame in tables.items():
            schema, _, table = name.rpartition(".")
            if schema:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.adbc_ingest(table, arrow_for_ingest(frame), mode="replace", db_schema_name=schema or None)
        conn.commit()


def query(url: str, sql: str):
    """Run one SQL statement and return its result as a pandas frame (autocommit)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table().to_pandas() if cursor.description else None
