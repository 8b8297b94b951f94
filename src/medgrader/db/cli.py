"""`medgrader db start|stop|status|url`: the embedded PostgreSQL as a server of its own.

`medgrader demo`, `serve` and `worker` without DATABASE_URL start the embedded server inside
their process and stop it when the last of them exits. To run several processes against one
server that none of them owns (N API processes and M workers on a laptop, the multi-process
test), start it with `medgrader db start` and give every process
`DATABASE_URL=$(medgrader db url)`; it runs until `medgrader db stop`.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

db_app = typer.Typer(help="The embedded PostgreSQL server, run apart from the API.")
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path, typer.Option(envvar="DATA_DIR", help="The data folder (the server's data in DIR/pg).")
]


@db_app.command("start")
def start(
    data_dir: DataDir = Path(".data"),
    migrate: Annotated[bool, typer.Option(help="Apply migrations too.")] = True,
) -> None:
    """Start the server (or find it running), create the database, print its URL."""
    from medgrader.db.embedded import DATABASE_NAME, start_embedded_postgres

    server = start_embedded_postgres(data_dir, keep_running=True)
    if migrate:
        from medgrader.db.migrate import upgrade_to_head

        upgrade_to_head(server.sqlalchemy_url(DATABASE_NAME))
    err_console.print(f"[green]embedded PostgreSQL running, data in {server.pgdata}[/green]")
    print(server.libpq_url(DATABASE_NAME))


@db_app.command("stop")
def stop(data_dir: DataDir = Path(".data")) -> None:
    """Stop the server (a fast shutdown: open connections are closed)."""
    from medgrader.db.embedded import running_server

    server = running_server(data_dir)
    if server is None:
        err_console.print("embedded PostgreSQL is not running")
        return
    try:
        server.halt()
    except subprocess.CalledProcessError as exc:
        # pg_ctl gives up if the server is still going when it looks; it may only be slow.
        deadline = time.monotonic() + 30
        while running_server(data_dir) is not None:
            if time.monotonic() > deadline:
                err_console.print(f"[red]could not stop embedded PostgreSQL: {exc}[/red]")
                raise typer.Exit(1) from exc
            time.sleep(0.2)
    err_console.print("[green]embedded PostgreSQL stopped[/green]")


@db_app.command("status")
def status(data_dir: DataDir = Path(".data")) -> None:
    """Say whether the server runs (exit 1 when it does not)."""
    from medgrader.db.embedded import DATABASE_NAME, running_server

    server = running_server(data_dir)
    if server is None:
        print(f"not running (data folder {data_dir.resolve()})")
        raise typer.Exit(1)
    print(f"running: {server.libpq_url(DATABASE_NAME)}")


@db_app.command("url")
def url(data_dir: DataDir = Path(".data")) -> None:
    """Print the URL to use as DATABASE_URL (exit 1 when the server does not run)."""
    from medgrader.db.embedded import DATABASE_NAME, running_server

    server = running_server(data_dir)
    if server is None:
        err_console.print("embedded PostgreSQL is not running: `medgrader db start`")
        raise typer.Exit(1)
    print(server.libpq_url(DATABASE_NAME))
