"""`medgrader webhooks replay`: process stored, unprocessed events through today's handlers;
`medgrader webhooks purge`: apply the inbox's retention now.

Both run in scripts: no questions, a summary, exit 1 when anything failed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from medgrader.commands.support import load_settings
from medgrader.config import Settings
from medgrader.core.errors import AppError
from medgrader.db.transactions import unit_of_work
from medgrader.runtime import open_context
from medgrader.webhooks.errors import AlreadyProcessed
from medgrader.webhooks.flows import replay_event, replayable_ids
from medgrader.webhooks.tasks import purge_old_events

app = typer.Typer(help="The Stripe webhook inbox.", no_args_is_help=True)
console = Console()


@app.command()
def replay(
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only events received on or after (ISO date).")
    ] = None,
    event_id: Annotated[str | None, typer.Option("--event-id", help="Only this event.")] = None,
) -> None:
    """Process every stored event not processed yet (unprocessed or failed), exactly once."""
    settings = load_settings()
    tally = asyncio.run(_replay_all(settings, event_type, since, event_id))
    for outcome, count in sorted(tally.items()):
        console.print(f"{count:6d}  {outcome}")
    if tally.get("failed"):
        raise typer.Exit(1)


async def _replay_all(
    settings: Settings, event_type: str | None, since: datetime | None, event_id: str | None
) -> Counter[str]:
    tally: Counter[str] = Counter()
    async with open_context(settings) as ctx:
        async with unit_of_work(ctx.db_pool) as db:
            ids = await replayable_ids(db, event_type=event_type, since=since, event_id=event_id)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("replaying", total=len(ids))
            for one in ids:
                try:
                    result = await replay_event(ctx, one)
                    tally["processed" if result.processed else "still unprocessed"] += 1
                except AlreadyProcessed:
                    tally["already processed"] += 1
                except AppError as exc:
                    tally["failed"] += 1
                    console.print(f"[red]{one}: {exc.code}: {exc.message}[/red]")
                except Exception as exc:  # recorded on the event; the run goes on
                    tally["failed"] += 1
                    console.print(f"[red]{one}: {type(exc).__name__}: {exc}[/red]")
                progress.advance(task)
    return tally


@app.command()
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days",
            min=1,
            help="Delete events older than this (default: WEBHOOK_EVENT_RETENTION_DAYS).",
        ),
    ] = None,
) -> None:
    """Delete stored events past retention now, as the daily job does: processed ones and
    those of types no handler acts on; failed and waiting ones are kept."""
    settings = load_settings()
    days = older_than_days or settings.webhook_event_retention_days
    if days <= 0:
        console.print("retention is off (WEBHOOK_EVENT_RETENTION_DAYS=0): removed 0 events")
        return
    removed = asyncio.run(_purge(settings, days))
    console.print(f"removed {removed} webhook events older than {days} days")


async def _purge(settings: Settings, days: int) -> int:
    async with open_context(settings) as ctx:
        return await purge_old_events(ctx, older_than_days=days)
