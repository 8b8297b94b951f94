"""Checkout jobs on the PostgreSQL queue: the periodic reconciliation and expiry sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import procrastinate
import psycopg
import structlog

from medgrader.checkout import repository as sessions
from medgrader.checkout.flows import sync_with_stripe
from medgrader.checkout.reconciliation import (
    BATCH_SIZE,
    MAX_SESSIONS_PER_RUN,
    MIN_AGE,
    ReconciliationReport,
    done,
    note,
)
from medgrader.core.context import AppContext
from medgrader.core.errors import AppError
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.worker import app_context

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


async def reconcile_pending_sessions(
    ctx: AppContext,
    *,
    min_age: timedelta = MIN_AGE,
    batch_size: int = BATCH_SIZE,
    max_sessions: int = MAX_SESSIONS_PER_RUN,
) -> ReconciliationReport:
    """One pass over the PENDING sessions created more than `min_age` ago: each batch read in
    a unit of work of its own, each session asked about and applied in its own."""
    report = ReconciliationReport()
    created_before = datetime.now(UTC) - min_age
    after = None
    while report.checked < max_sessions:
        async with unit_of_work(ctx.db_pool) as db:
            limit = min(batch_size, max_sessions - report.checked)
            batch = await sessions.pending_created_before(
                db, created_before, limit=limit, after=after
            )
        if not batch:
            break
        after = (batch[-1].expires_at, batch[-1].id)
        for row in batch:
            report.checked += 1
            try:
                async with unit_of_work(ctx.db_pool) as db:
                    outcome, fresh = await sync_with_stripe(db, ctx, row.stripe_session_id)
            except AppError:  # Stripe could not answer; the gateway logged why
                report.errors.append(row.stripe_session_id)
                continue
            except psycopg.Error:
                log.exception(
                    "reconciliation could not apply a session",
                    stripe_session_id=row.stripe_session_id,
                )
                report.errors.append(row.stripe_session_id)
                continue
            note(report, row.stripe_session_id, outcome, fresh)
    return done(report)


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
