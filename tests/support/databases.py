"""The tests' databases: one migrated template, cloned per pytest process and tier, wiped per test.

The embedded server under `.data/test` holds `<prefix>_template`, migrated to head once and
kept while the migrations do not change (its comment is their hash). Each pytest process (each
xdist worker, or the one process of a serial run) clones it into its own databases, one per
tier: `<prefix>_<worker>` for the fast tier and `<prefix>_<worker>_e2e` for the end-to-end
tier, so two workers never share rows. Starting the server, (re)building the template and
cloning happen under one file lock, so parallel workers take turns instead of racing.

`Wiper` empties every table of a database (one TRUNCATE) so that each fast test starts from a
freshly migrated, empty database: no test can see or change another test's rows.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

import medgrader
from medgrader.db.embedded import EmbeddedServer, drop_database, start_embedded_postgres
from medgrader.db.engine import to_async_url, to_libpq_url
from medgrader.db.migrate import upgrade_to_head
from medgrader.db.resolve import Database

ROOT = Path(__file__).resolve().parents[2]
# Several runs may share one server (TEST_DATABASE_URL, two checkouts): a prefix per run kind.
PREFIX = os.environ.get("MEDGRADER_TEST_DB", "medgrader_test")
# This pytest process: an xdist worker ("gw0", "gw1"...) or the one process of a serial run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# The databases of this pytest process are named from here (the tier's, scratch ones).
TEST_DATABASE = f"{PREFIX}_{WORKER}"
TEMPLATE = f"{PREFIX}_template"
MIGRATIONS = Path(medgrader.__file__).resolve().parent / "migrations"
# Tables no test writes and the wipe must keep.
KEPT_TABLES = {"alembic_version"}


@dataclass(frozen=True)
class TestServer:
    """Where the test databases live: the embedded server, or TEST_DATABASE_URL's server."""

    admin_url: str  # libpq URL of the maintenance database ("postgres")
    embedded: EmbeddedServer | None

    def url(self, database: str) -> str:
        """The SQLAlchemy (async) URL of `database` on this server."""
        return to_async_url(_with_database(self.admin_url, database))

    def database(self, name: str) -> Database:
        return Database(url=self.url(name), embedded=self.embedded)


def _with_database(libpq_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(libpq_url).set(database=name).render_as_string(hide_password=False)


def migrations_hash() -> str:
    digest = hashlib.sha256()
    # The SQL files the migrations execute (migrations/sql) count too.
    for path in sorted([*MIGRATIONS.rglob("*.py"), *MIGRATIONS.rglob("*.sql")]):
        digest.update(path.relative_to(MIGRATIONS).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server() -> TestServer:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        return TestServer(
            admin_url=_with_database(to_libpq_url(external), "postgres"), embedded=None
        )
    embedded = start_embedded_postgres(ROOT / ".data" / "test", database="postgres")
    return TestServer(admin_url=embedded.libpq_url("postgres"), embedded=embedded)


def _ensure_template(server: TestServer) -> None:
    wanted = migrations_hash()
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (TEMPLATE,),
        ).fetchone()
    if row is not None and row[0] == wanted:
        return
    drop_database(server.admin_url, TEMPLATE)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    upgrade_to_head(server.url(TEMPLATE))
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(TEMPLATE), sql.Literal(wanted)
            )
        )


def clone_template(server: TestServer, name: str) -> None:
    """`name`, dropped if it exists, as a copy of the migrated template."""
    drop_database(server.admin_url, name)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        for attempt in range(50):
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(TEMPLATE)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:  # another run is copying it this instant
                if attempt == 49:
                    raise
                time.sleep(0.1)
        # Nothing here needs to survive a crash of the test server: commits need not wait
        # for the disk.
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )


def open_test_server(clones: list[str]) -> TestServer:
    """Start (or attach to) the server, make sure the template is current, clone `clones`."""
    with _exclusive(ROOT / ".data" / "test.lock"):
        server = _server()
        _ensure_template(server)
        for name in clones:
            clone_template(server, name)
    return server


class Wiper:
    """Empties every table of one database but KEPT_TABLES.

    DELETE with triggers off (session_replication_role = replica: no foreign-key or
    append-only trigger fires), in one round trip: about 2 ms on a test's few rows, where a
    TRUNCATE of the 22 tables took 100-270 ms (it replaces every table's files).
    """

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(to_libpq_url(database_url), autocommit=True)
        # A test that left a transaction open (and its locks) fails the wipe instead of
        # hanging it.
        self._conn.execute("SET lock_timeout = '10s'")
        tables = [
            row[0]
            for row in self._conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
            if row[0] not in KEPT_TABLES
        ]
        deletes = [
            sql.SQL("DELETE FROM {}").format(sql.Identifier("public", table)) for table in tables
        ]
        self._statement = sql.SQL("; ").join(
            [
                sql.SQL("SET session_replication_role = replica"),
                *deletes,
                sql.SQL("SET session_replication_role = origin"),
            ]
        )

    def wipe(self) -> None:
        self._conn.execute(self._statement)

    def close(self) -> None:
        self._conn.close()
