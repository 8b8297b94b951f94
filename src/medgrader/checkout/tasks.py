"""Checkout jobs on the PostgreSQL queue: the periodic reconciliation and expiry sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

import procrastinate

if TYPE_CHECKING:  # the context imports the job registry, which imports this module
    from medgrader.core.context import AppContext

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
    # Imported here: checkout's fulfilment needs the context module, which is still loading
    # when the job registry imports this one.
    from medgrader.checkout.reconciliation import reconcile_pending_sessions
    from medgrader.jobs.worker import WORKER_CONTEXT_KEY

    app_context: AppContext = context.additional_context[WORKER_CONTEXT_KEY]
    await reconcile_pending_sessions(app_context)
