"""The expiry sweep on the PostgreSQL queue, every minute: EXPIRED on holds whose time has
passed (their credits back to their lots) and one EXPIRY entry per credit lot past its
expiresAt (issue 17), student by student under the balance row lock (holds.sweep.sweep_due).

Bookkeeping only: an expired hold stopped counting against the balance the moment its
expires_at passed, and an expired lot's credits stopped being available at its expiresAt,
whether or not this has run (every posting settles its student first).
"""

from __future__ import annotations

import procrastinate
import structlog

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.holds.sweep import sweep_due
from medgrader.jobs.worker import app_context

log = structlog.get_logger(__name__)

blueprint = procrastinate.Blueprint()
BATCH = 1000


async def sweep_expired_holds(ctx: AppContext) -> int:
    """Expire due holds and lots in batches of students, one unit of work each; returns how
    many holds expired."""
    holds = lots = 0
    while True:
        async with unit_of_work(ctx.db_pool) as db:
            swept = await sweep_due(db, batch=BATCH)
        holds += swept.holds
        lots += swept.lots
        if swept.students < BATCH:
            break
    if holds or lots:
        log.info("holds and lots expired", holds=holds, lots=lots)
    return holds


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
