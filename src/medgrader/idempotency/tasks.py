"""Retention: idempotency keys are promised for 24 hours and deleted after 48."""

from __future__ import annotations

import procrastinate
import structlog

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.idempotency.store import purge_expired
from medgrader.jobs.worker import app_context

log = structlog.get_logger(__name__)

blueprint = procrastinate.Blueprint()


async def purge_idempotency_keys(ctx: AppContext) -> int:
    """Delete expired key rows in one transaction; returns how many went."""
    async with unit_of_work(ctx.db_pool) as db:
        deleted = await purge_expired(db)
    log.info("idempotency keys purged", deleted=deleted)
    return deleted


# Hourly, at a minute past, so no two workers race the same tick (procrastinate defers each
# periodic tick once, whatever the number of workers).
@blueprint.periodic(cron="7 * * * *")
@blueprint.task(name="purge_idempotency_keys", pass_context=True, queueing_lock="idem-purge")
async def purge_idempotency_keys_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await purge_idempotency_keys(app_context(context))
