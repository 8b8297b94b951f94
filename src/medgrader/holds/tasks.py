"""The holds' sweep on the PostgreSQL queue: write EXPIRED on holds whose time has passed.

Bookkeeping only: an expired hold stopped counting against the balance the moment its
expires_at passed, whether or not this has run.
"""

from __future__ import annotations

import procrastinate
import structlog

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.holds.service import expire_due_holds
from medgrader.jobs.worker import app_context

log = structlog.get_logger(__name__)

blueprint = procrastinate.Blueprint()
BATCH = 1000


async def sweep_expired_holds(ctx: AppContext) -> int:
    """Expire due holds in batches, one unit of work each; returns how many."""
    total = 0
    while True:
        async with unit_of_work(ctx.db_pool) as db:
            expired = await expire_due_holds(db, batch=BATCH)
        total += expired
        if expired < BATCH:
            break
    if total:
        log.info("holds expired", expired=total)
    return total


# Every minute: statuses read from the table (admin reports) lag expiry by at most that.
@blueprint.periodic(cron="* * * * *")
@blueprint.task(
    name="sweep_expired_holds",
    pass_context=True,
    lock="holds-sweep",
    queueing_lock="holds-sweep",
)
async def sweep_expired_holds_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await sweep_expired_holds(app_context(context))
