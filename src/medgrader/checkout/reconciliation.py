"""Reconciliation and the expiry sweep: PENDING sessions that no webhook settled.

A session stays PENDING when its webhook never led to a credit: the endpoint was disabled,
deliveries failed for days, or one arrived before our row existed (`unknown_session`). Every
few minutes (`checkout.tasks`) this asks Stripe about each PENDING session older than a few
minutes and applies the answer with the same `apply_stripe_session` the webhook and the status
endpoint use: a paid session is fulfilled (exactly once, however the paths race), an expired
one becomes EXPIRED, an open one stays PENDING and is asked about again next time.

No connection is held while Stripe answers (see checkout.stripe_sync): the work list is read
in small batches, each in its own short transaction, and each session is applied in its own.
One session's Stripe or database error is logged and skipped, never the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from medgrader.checkout import repository as sessions
from medgrader.checkout.stripe_sync import sync_with_stripe
from medgrader.core.context import AppContext, short_transaction
from medgrader.core.errors import AppError
from medgrader.models.checkout import CheckoutStatus

log = structlog.get_logger(__name__)

# Old enough that its webhook (delivered within seconds as a rule) should have settled it.
MIN_AGE = timedelta(minutes=10)
BATCH_SIZE = 50
# A bound on one run's Stripe calls; the rest wait for the next run.
MAX_SESSIONS_PER_RUN = 1000


@dataclass
class ReconciliationReport:
    checked: int = 0
    credited: list[str] = field(default_factory=list)  # Stripe session ids
    expired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def reconcile_pending_sessions(
    ctx: AppContext,
    *,
    min_age: timedelta = MIN_AGE,
    batch_size: int = BATCH_SIZE,
    max_sessions: int = MAX_SESSIONS_PER_RUN,
) -> ReconciliationReport:
    """One pass over the PENDING sessions created more than `min_age` ago."""
    report = ReconciliationReport()
    created_before = datetime.now(UTC) - min_age
    after = None
    while report.checked < max_sessions:
        async with short_transaction(ctx) as session:
            limit = min(batch_size, max_sessions - report.checked)
            batch = await sessions.pending_created_before(
                session, created_before, limit=limit, after=after
            )
        if not batch:
            break
        after = (batch[-1].expires_at, batch[-1].id)
        for row in batch:
            report.checked += 1
            await _reconcile_one(ctx, row.stripe_session_id, report)
    log.info("checkout reconciliation done", checked=report.checked,
             credited=len(report.credited), expired=len(report.expired),
             errors=len(report.errors))  # fmt: skip
    return report


async def _reconcile_one(
    ctx: AppContext, stripe_session_id: str, report: ReconciliationReport
) -> None:
    try:
        outcome, row = await sync_with_stripe(ctx, stripe_session_id)
    except AppError:  # Stripe could not answer; the gateway logged why
        report.errors.append(stripe_session_id)
        return
    except SQLAlchemyError:
        log.exception(
            "reconciliation could not apply a session", stripe_session_id=stripe_session_id
        )
        report.errors.append(stripe_session_id)
        return
    if outcome.credited:
        report.credited.append(stripe_session_id)
        log.error(
            "ALERT reconciliation credited a paid checkout session: its webhook never did",
            alert="webhook_missed",
            stripe_session_id=stripe_session_id,
            student_id=str(row.student_id),
            credits=row.credits,
            payment_id=str(outcome.payment_id),
        )
    elif row.status == CheckoutStatus.EXPIRED:
        report.expired.append(stripe_session_id)
