"""The `medgrader` command: serve, worker, migrate, create-admin, audit, demo, db."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medgrader.commands.documents import app as documents_app
from medgrader.commands.support import console, err_console, load_settings
from medgrader.commands.webhooks import app as webhooks_app
from medgrader.db.cli import db_app

app = typer.Typer(help="MedGrader credits backend.", no_args_is_help=True, add_completion=False)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(documents_app, name="documents")
app.add_typer(db_app, name="db")


def exit_normally_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so exit hooks run (the embedded server stops with us).

    uvicorn re-raises the signal that stopped it; with the default handler the process would
    die on the spot and leave an embedded PostgreSQL running behind it.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@app.command()
def migrate() -> None:
    """Apply database migrations (starts the embedded server when DATABASE_URL is unset)."""
    from medgrader.db.resolve import resolve_database

    settings = load_settings()
    database = resolve_database(settings)
    apply_migrations(database.url)
    console.print("[green]database is at the latest revision[/green]")


def apply_migrations(database_url: str) -> None:
    """Migrate to the latest revision; a migration that refuses (data it must not change by
    itself) is its message on standard error and exit status 1, not a traceback."""
    from medgrader.db.migrate import MigrationRefused, upgrade_to_head

    try:
        upgrade_to_head(database_url)
    except MigrationRefused as exc:
        typer.echo(f"medgrader migrate: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API worker processes.")] = 1,
    run_migrations: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first.")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the API (with a job worker in-process unless RUN_WORKER_IN_PROCESS=false)."""
    exit_normally_on_sigterm()
    import uvicorn

    from medgrader.app import create_app
    from medgrader.core.logging import configure_logging
    from medgrader.db.resolve import resolve_database
    from medgrader.security.headers import SERVER_OPTIONS

    settings = load_settings()
    configure_logging(json=settings.is_production)
    database = resolve_database(settings)
    if run_migrations:
        apply_migrations(database.url)
    options = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        **SERVER_OPTIONS,
    }
    if workers > 1:
        # Each process builds its own app (and pools) from the environment.
        uvicorn.run("medgrader.app:app_from_environment", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, database=database), **options)


@app.command()
def worker(concurrency: Annotated[int, typer.Option(help="Jobs run at once.")] = 4) -> None:
    """Run a job worker alone (receipt emails and other background work).

    It restarts itself, with back-off, after any failure (a database restart, cut
    connections), logging each one; it exits only on SIGTERM or SIGINT (status 0, after the
    jobs in hand finish) or when its configuration is invalid (status 2).
    """
    from medgrader.core.logging import configure_logging
    from medgrader.jobs.worker import run_worker
    from medgrader.runtime import open_context

    settings = load_settings()
    configure_logging(json=settings.is_production)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, task.cancel)
        async with open_context(settings) as ctx:
            with contextlib.suppress(asyncio.CancelledError):
                await run_worker(ctx, concurrency=concurrency)

    asyncio.run(main())


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's email.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
) -> None:
    """Create an administrator, or promote an existing user and reset their password."""
    from medgrader.auth import service
    from medgrader.db.transactions import unit_of_work
    from medgrader.runtime import open_context

    if len(password) < 8:
        err_console.print("[red]the password must be at least 8 characters[/red]")
        raise typer.Exit(2)
    settings = load_settings()

    async def main() -> None:
        async with open_context(settings) as ctx, unit_of_work(ctx.db_pool) as db:
            await service.create_admin(db, ctx, email=email, password=password)

    asyncio.run(main())
    console.print(f"[green]administrator {email} is ready[/green]")


@app.command()
def seed() -> None:
    """Create the standard credit packages (Starter, Value, Premium); safe to run again."""
    from medgrader.catalog.service import seed_catalogue
    from medgrader.db.transactions import unit_of_work
    from medgrader.runtime import open_context

    settings = load_settings()

    async def main() -> int:
        async with open_context(settings) as ctx, unit_of_work(ctx.db_pool) as db:
            return await seed_catalogue(db)

    created = asyncio.run(main())
    console.print(f"[green]catalogue seeded: {created} package(s) created[/green]")


@app.command()
def audit() -> None:
    """Check every balance against its ledger; exit 1 on any finding."""
    from medgrader.audit.checks import run_audit
    from medgrader.db.transactions import unit_of_work
    from medgrader.runtime import open_context

    settings = load_settings()

    async def main() -> list:
        async with open_context(settings) as ctx, unit_of_work(ctx.db_pool) as db:
            return await run_audit(db)

    findings = asyncio.run(main())
    if not findings:
        console.print("[green]audit clean: every balance equals its ledger[/green]")
        return
    table = Table(title=f"{len(findings)} audit finding(s)")
    for column in ("check", "subject", "detail"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.check, finding.subject, finding.detail)
    console.print(table)
    raise typer.Exit(1)


EMULATOR_MISSING = (
    "the Stripe emulator is a development tool and is not installed here: install it from a "
    "checkout of this repository with `pip install ./emulator` (make demo and make test do it)"
)


def require_stripe_emulator() -> None:
    """The two development commands need the emulator, its own distribution (emulator/), which
    a production install does not have: say so in one line and exit 1 instead of a traceback."""
    try:
        import stripe_emulator  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "stripe_emulator":
            raise  # installed but broken (a dependency of its own is missing): show it
        typer.echo(EMULATOR_MISSING, err=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the API.")] = 8000,
    smtp_port: Annotated[int, typer.Option(help="Port for the demo mailbox's SMTP sink.")] = 1025,
    stripe_port: Annotated[int, typer.Option(help="Port for the Stripe emulator.")] = 12111,
    data_dir: Annotated[
        Path,
        typer.Option(help="Where the demo keeps its data (database, emulator state, mailbox)."),
    ] = Path(".data"),
) -> None:
    """Everything on this machine, no keys needed: embedded PostgreSQL, mailbox, Stripe
    emulator, API; the catalogue is seeded. A port in use is an error before anything starts."""
    require_stripe_emulator()
    exit_normally_on_sigterm()
    from medgrader.demo import run_demo

    sys.exit(run_demo(port=port, smtp_port=smtp_port, stripe_port=stripe_port, data_dir=data_dir))


@app.command(
    "stripe-emulator",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def stripe_emulator(ctx: typer.Context) -> None:
    """Run the Stripe emulator alone (development only); --help lists its options."""
    require_stripe_emulator()
    from stripe_emulator.cli import main

    main(ctx.args)


if __name__ == "__main__":
    app()
