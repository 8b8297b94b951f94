"""Email jobs on the PostgreSQL queue: the purchase receipt.

The job is deferred in the same transaction as the purchase it reports, so it exists exactly
when the purchase committed. SMTP trouble is retried with exponential back-off until the mail
goes through; `payments.receipt_sent_at` (checked and set under the payment's row lock) makes
sure our side never sends two receipts for one purchase.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import TYPE_CHECKING, Any

import procrastinate
import structlog
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from medgrader.jobs.queues import RECEIPTS_QUEUE
from medgrader.notifications.emails import purchase_receipt_email
from medgrader.notifications.mailer import MailDeliveryError
from medgrader.payments import repository as payments

if TYPE_CHECKING:  # at run time this module is imported while core.context is loading
    from medgrader.core.context import AppContext

# medgrader.jobs.worker.WORKER_CONTEXT_KEY (not imported: it would close an import cycle).
WORKER_CONTEXT_KEY = "app_context"

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


class RetryLater(Exception):
    """A temporary failure; carries the back-off the process is configured with."""

    def __init__(self, message: str, *, base_delay: float, max_delay: float) -> None:
        super().__init__(message)
        self.base_delay = base_delay
        self.max_delay = max_delay


class BackoffRetry(BaseRetryStrategy):
    """Retry RetryLater failures after base * 2**attempts seconds (capped), up to max_attempts.

    The delays come from the exception, i.e. from the worker's Settings, so that tests can
    run with a base of a fraction of a second and production with tens of seconds.
    """

    def __init__(self, max_attempts: int = 60) -> None:
        self.max_attempts = max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if not isinstance(exception, RetryLater) or job.attempts >= self.max_attempts:
            return None
        delay = min(exception.max_delay, exception.base_delay * 2 ** min(job.attempts, 30))
        return RetryDecision(retry_in={"seconds": delay})


def _app_context(context: procrastinate.JobContext) -> AppContext:
    return context.additional_context[WORKER_CONTEXT_KEY]  # type: ignore[no-any-return]


@blueprint.task(
    name="send_purchase_receipt", queue=RECEIPTS_QUEUE, pass_context=True, retry=BackoffRetry()
)
async def send_purchase_receipt(context: procrastinate.JobContext, payment_id: str) -> None:
    ctx = _app_context(context)
    settings = ctx.settings
    async with ctx.sessionmaker() as session, session.begin():
        payment = await payments.lock_for_receipt(session, uuid.UUID(payment_id))
        if payment is None:
            log.error("receipt for an unknown payment", payment_id=payment_id)
            return
        if payment.receipt_sent_at is not None:
            return  # already sent (a re-run after the commit that recorded it)
        message = purchase_receipt_email(
            app_name=settings.app_name,
            to=payment.email,
            first_name=payment.first_name,
            package_name=payment.package_name,
            credits=payment.credits,
            amount_pence=payment.amount_pence,
            currency=payment.currency,
            paid_at=payment.paid_at.astimezone(UTC),
            reference=str(payment.id),
            dashboard_url=f"{settings.frontend_url.rstrip('/')}/dashboard",
        )
        try:
            await ctx.mailer.send(message)
        except MailDeliveryError as exc:
            log.warning("receipt not sent; will retry", payment_id=payment_id, error=str(exc))
            raise RetryLater(
                str(exc),
                base_delay=settings.receipt_retry_base_seconds,
                max_delay=settings.receipt_retry_max_seconds,
            ) from exc
        await payments.mark_receipt_sent(session, payment.id)
    log.info("receipt sent", payment_id=payment_id)
