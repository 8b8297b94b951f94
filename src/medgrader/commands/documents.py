"""`medgrader documents backfill`: VAT documents for the payments made before documents
existed (or any payment still lacking one it is due), in payment order, once.

Each payment is issued in its own transaction by the same function as the jobs
(documents.service.issue_due_documents), so running it again, or while the app runs, issues
nothing twice and numbers stay gap-free. `--watch` keeps going, every few seconds, until
interrupted (the benchmark runs documents alongside fulfilment that way).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import Progress

from medgrader.commands.support import console, load_settings
from medgrader.config import Settings
from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.documents import repository
from medgrader.documents.tasks import issue_for_payment
from medgrader.runtime import open_context

app = typer.Typer(help="VAT receipts, credit notes and debit notes.", no_args_is_help=True)
BATCH = 1000


@app.command()
def backfill(
    watch: Annotated[
        float | None,
        typer.Option(help="Keep issuing every this many seconds until interrupted.", min=0.05),
    ] = None,
) -> None:
    """Issue every document a payment is due and lacks, oldest payment first."""
    settings = load_settings()
    tally = asyncio.run(_backfill(settings, watch))
    console.print(
        f"issued {tally['receipts']} receipts and {tally['notes']} credit/debit notes "
        f"for {tally['payments']} payments"
    )


async def _backfill(settings: Settings, watch: float | None) -> Counter[str]:
    tally: Counter[str] = Counter()
    stop = asyncio.Event()
    if watch is not None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    async with open_context(settings) as ctx:
        while True:
            await _one_pass(ctx, tally, progress_bar=watch is None)
            if watch is None:
                return tally
            if stop.is_set():  # stopped during the pass: one more for what came meanwhile
                await _one_pass(ctx, tally, progress_bar=False)
                return tally
            try:
                await asyncio.wait_for(stop.wait(), watch)
            except TimeoutError:
                continue
            await _one_pass(ctx, tally, progress_bar=False)  # what came before the stop
            return tally


async def _one_pass(ctx: AppContext, tally: Counter[str], *, progress_bar: bool) -> None:
    # Payments committed up to now; later ones are the jobs' (or the next pass's).
    before = datetime.now(UTC) + timedelta(seconds=1)
    async with unit_of_work(ctx.db_pool) as db:
        due = await repository.count_missing_documents(db, before=before)
    done: set[uuid.UUID] = set()
    with Progress(console=console, transient=True, disable=not progress_bar) as progress:
        task = progress.add_task("issuing documents", total=due)
        while True:
            async with unit_of_work(ctx.db_pool) as db:
                ids = await repository.payments_missing_documents(db, before=before, limit=BATCH)
            # A payment still listed after its turn has a note nothing is left to credit
            # (logged by the service): once per pass is enough.
            ids = [i for i in ids if i not in done]
            if not ids:
                return
            done.update(ids)
            for payment_id in ids:
                numbers = await issue_for_payment(ctx, payment_id)
                tally["payments"] += 1
                tally["receipts"] += sum(1 for n in numbers if "-CN-" not in n)
                tally["notes"] += sum(1 for n in numbers if "-CN-" in n)
                progress.advance(task)
