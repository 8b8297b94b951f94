"""Automatic top-up jobs: charging a queued attempt, reconciling attempts left in flight, and
the email that tells a student an attempt failed.

`charge_top_up` is deferred by the debit that queued the attempt (ledger.threshold), in the
same transaction. Its Stripe call carries a key derived from the attempt, so a retried or
crashed job, or reconciliation asking again, never charges twice; the one settlement
function (topups.charging) credits a success exactly once, whoever learns of it first.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import procrastinate
import psycopg
import structlog

from medgrader.core.context import AppContext
from medgrader.core.errors import AppError
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.queues import RECEIPTS_QUEUE, TOP_UP_QUEUE
from medgrader.jobs.worker import app_context
from medgrader.topups import emails, flows, repository
from medgrader.topups.charging import Settled

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

# Attempts untouched this long are asked about again (a webhook would have settled them).
RECONCILE_AFTER = timedelta(minutes=2)
RECONCILE_BATCH = 100


async def charge(ctx: AppContext, attempt_id: uuid.UUID) -> Settled:
    """Charge one attempt; Stripe's trouble is logged and leaves it PROCESSING for the
    webhook or reconciliation."""
    try:
        async with unit_of_work(ctx.db_pool) as db:
            return await flows.charge_attempt(db, ctx, attempt_id)
    except AppError as exc:  # the gateway logged what Stripe said
        log.warning("automatic top-up charge not settled; reconciliation will ask again",
                    attempt_id=str(attempt_id), error=exc.code)  # fmt: skip
        return Settled(f"unsettled: {exc.code}")


@blueprint.task(name="charge_top_up", queue=TOP_UP_QUEUE, pass_context=True)
async def charge_top_up(context: procrastinate.JobContext, attempt_id: str) -> None:
    await charge(app_context(context), uuid.UUID(attempt_id))


async def reconcile_attempts(ctx: AppContext, *, older_than: timedelta = RECONCILE_AFTER) -> int:
    """One pass over the attempts still in flight: each in a unit of work of its own, so one
    attempt's trouble is logged and skipped. Returns how many were settled."""
    async with unit_of_work(ctx.db_pool) as db:
        stale = await repository.stale_in_flight(
            db, datetime.now(UTC) - older_than, limit=RECONCILE_BATCH
        )
    settled = 0
    for attempt_id in stale:
        try:
            async with unit_of_work(ctx.db_pool) as db:
                outcome = await flows.reconcile_attempt(db, ctx, attempt_id)
        except (AppError, psycopg.Error) as exc:
            log.warning("top-up reconciliation skipped an attempt", attempt_id=str(attempt_id),
                        error=repr(exc))  # fmt: skip
            continue
        if outcome.credited:
            log.error("ALERT reconciliation credited an automatic top-up: no other path did",
                      alert="top_up_reconciled", attempt_id=str(attempt_id))  # fmt: skip
        if outcome.code in ("succeeded", "failed"):
            settled += 1
    return settled


@blueprint.periodic(cron="* * * * *")
@blueprint.task(
    name="reconcile_top_ups",
    pass_context=True,
    lock="top-up-reconcile",
    queueing_lock="top-up-reconcile",
)
async def reconcile_top_ups_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await reconcile_attempts(app_context(context))


@blueprint.task(name="send_top_up_failed", queue=RECEIPTS_QUEUE, pass_context=True, retry=10)
async def send_top_up_failed(context: procrastinate.JobContext, attempt_id: str) -> None:
    """Tell the student why an attempt failed, or give them the link to pay on-session."""
    ctx = app_context(context)
    async with unit_of_work(ctx.db_pool) as db:
        # The claim commits with the send, or rolls back with a failed one (then retried).
        row = await emails.claim(db, uuid.UUID(attempt_id))
        if row is None:
            return
        message_id = ctx.mailer.message_id(f"top-up-failed-{row.id}")
        await ctx.mailer.send(emails.failure_email(ctx.settings, row, message_id))
    log.info("top-up failure email sent", attempt_id=attempt_id)
