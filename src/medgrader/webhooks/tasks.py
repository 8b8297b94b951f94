"""The inbox's daily retention job (see webhooks.retention)."""

from __future__ import annotations

import procrastinate
import structlog

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.worker import app_context
from medgrader.webhooks.retention import BATCH, purge_batch

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


async def purge_old_events(ctx: AppContext, *, older_than_days: int, batch: int = BATCH) -> int:
    """Delete the events past retention now, `batch` rows per committed transaction; returns
    how many went. `older_than_days` 0 (or less) deletes nothing: retention is off."""
    if older_than_days <= 0:
        return 0
    removed = 0
    while True:
        async with unit_of_work(ctx.db_pool) as db:
            deleted = await purge_batch(db, days=older_than_days, batch=batch)
        removed += deleted
        if deleted < batch:  # the last batch (rows locked by a delivery wait for the next run)
            break
    log.info("webhook events purged", removed=removed, older_than_days=older_than_days)
    return removed


# Daily at 03:41 UTC, a quiet hour; procrastinate defers each tick once, whatever the number
# of workers, and the queueing lock keeps a slow run from piling up behind itself.
@blueprint.periodic(cron="41 3 * * *")
@blueprint.task(name="purge_webhook_events", pass_context=True, queueing_lock="webhooks-purge")
async def purge_webhook_events_task(context: procrastinate.JobContext, timestamp: int) -> None:
    ctx = app_context(context)
    await purge_old_events(ctx, older_than_days=ctx.settings.webhook_event_retention_days)
