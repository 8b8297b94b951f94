"""Checkout jobs on the PostgreSQL queue: the periodic reconciliation and expiry sweep."""

from __future__ import annotations

import procrastinate

from medgrader.checkout.reconciliation import reconcile_pending_sessions
from medgrader.jobs.worker import app_context

blueprint = procrastinate.Blueprint()


# Every five minutes. procrastinate defers each tick once whatever the number of workers; the
# lock keeps a slow run (Stripe trouble) from overlapping the next one.
@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(
    name="reconcile_checkout_sessions",
    pass_context=True,
    lock="checkout-reconcile",
    queueing_lock="checkout-reconcile",
)
async def reconcile_checkout_sessions_task(
    context: procrastinate.JobContext, timestamp: int
) -> None:
    await reconcile_pending_sessions(app_context(context))
