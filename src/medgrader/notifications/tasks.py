"""Email jobs on the PostgreSQL queue: the purchase receipt, and rescuing stalled ones.

The job is deferred in the same transaction as the purchase it reports, so it exists exactly
when the purchase committed. Temporary trouble (the SMTP server down, a database error such as
a dropped connection, a timeout or a deadlock) is retried with exponential back-off until the
mail goes through.

What is guaranteed: at most one receipt per purchase is recorded as sent. The job locks the
payment row, skips it if `receipt_sent_at` is set, sends, and sets `receipt_sent_at` in the
same transaction. Delivery is at-least-once, not exactly-once: if the process dies, or the
commit fails, after the SMTP server accepted the mail, `receipt_sent_at` stays NULL and the
retry sends a second copy. No mail is ever lost to that: a job that stalls because its worker
was killed mid-job is put back in the queue by `retry_stalled_receipts` (procrastinate 3.10
does not do that by itself: such a job would stay 'doing' forever).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC
from email.message import EmailMessage
from typing import Any

import procrastinate
import psycopg
import structlog
from procrastinate.exceptions import ConnectorException
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg_pool import PoolTimeout

from medgrader.config import Settings
from medgrader.core.adapters.mailer import MailDeliveryError
from medgrader.core.attachments import Attachment
from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.queues import EMAIL_TASKS, RECEIPTS_QUEUE
from medgrader.jobs.worker import app_context
from medgrader.notifications import receipts
from medgrader.notifications.emails import purchase_receipt_email, returns_notice_email
from medgrader.notifications.notices import CLAIM_NOTICE, NOTICE, NOTICE_KEY

# Database errors worth another attempt: OperationalError covers a lost connection, a
# statement or lock timeout, a deadlock, a serialization failure and a server shutting down;
# InterfaceError a connection the driver gave up on; PoolTimeout an exhausted pool.
TRANSIENT_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)

# A job is stalled when its worker has sent no heartbeat for this long. procrastinate's worker
# beats every 10 s (update_heartbeat_interval) whatever its jobs are doing, so a minute of
# silence means the process is gone (killed, crashed, its machine lost).
STALLED_AFTER_SECONDS = 60

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()


class RetryLater(Exception):
    """A temporary failure; carries the back-off the process is configured with."""

    def __init__(self, message: str, *, base_delay: float, max_delay: float) -> None:
        super().__init__(message)
        self.base_delay = base_delay
        self.max_delay = max_delay

    @classmethod
    def configured(cls, settings: Settings, message: str) -> RetryLater:
        return cls(
            message,
            base_delay=settings.receipt_retry_base_seconds,
            max_delay=settings.receipt_retry_max_seconds,
        )


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


async def _retrying_db_errors(ctx: AppContext, send: Awaitable[None], subject: str) -> None:
    try:
        await send
    except TRANSIENT_DB_ERRORS as exc:
        # The transaction rolled back: nothing is recorded as sent, so the retry starts over
        # (and, had the mail already gone out, sends a second copy: at-least-once).
        log.warning(
            "email job hit a database error; will retry",
            subject=subject,
            error_type=type(exc).__name__,
            error=str(getattr(exc, "orig", None) or exc),
        )
        raise RetryLater.configured(ctx.settings, str(exc)) from exc


@blueprint.task(
    name="send_purchase_receipt", queue=RECEIPTS_QUEUE, pass_context=True, retry=BackoffRetry()
)
async def send_purchase_receipt(context: procrastinate.JobContext, payment_id: str) -> None:
    ctx = app_context(context)
    await _retrying_db_errors(ctx, _send_receipt(ctx, payment_id), f"receipt {payment_id}")


@blueprint.task(
    name="send_returns_notice", queue=RECEIPTS_QUEUE, pass_context=True, retry=BackoffRetry()
)
async def send_returns_notice(context: procrastinate.JobContext, transaction_id: str) -> None:
    """Tell the student that credits were taken back or returned (one entry, one email)."""
    ctx = app_context(context)
    await _retrying_db_errors(ctx, _send_notice(ctx, transaction_id), f"notice {transaction_id}")


async def _send_notice(ctx: AppContext, transaction_id: str) -> None:
    settings = ctx.settings
    async with unit_of_work(ctx.db_pool) as db:
        entry = (await db.execute(NOTICE, {"id": uuid.UUID(transaction_id)})).one_or_none()
    if entry is None:
        log.error("returns notice for an unknown entry", transaction_id=transaction_id)
        return
    # The refund's or dispute's credit (or debit) note, issued first if due (documents).
    attachments = await ctx.attachments.for_returns(entry.payment_id, entry.stripe_object_id)
    async with unit_of_work(ctx.db_pool) as db:
        # The claim row is the "sent" record: it commits with the send, or rolls back with a
        # failed one (then a concurrent run of the same job waits here and finds it sent).
        if (await db.execute(CLAIM_NOTICE, {"key": NOTICE_KEY.format(entry.id)})).first() is None:
            return
        taken_back = entry.entry_type == "DEBIT"
        money = abs(int(entry.returned_after or 0) - int(entry.returned_before or 0))
        message = returns_notice_email(
            app_name=settings.app_name,
            to=entry.email,
            first_name=entry.first_name,
            package_name=entry.package_name,
            taken_back=taken_back,
            credits=int(entry.amount),
            amount_pence=money,
            currency=entry.currency,
            why=("a dispute" if entry.source_type == "DISPUTE" else "a refund")
            if taken_back
            else ("a dispute was won" if entry.source_type == "DISPUTE" else "a refund failed"),
            balance=int(entry.balance_after),
            reference=str(entry.payment_id),
            dashboard_url=f"{settings.frontend_url.rstrip('/')}/dashboard",
            # One notice per ledger entry: its own id (a payment may have several notices).
            message_id=ctx.mailer.message_id(f"returns-{entry.id}"),
        )
        _attach(message, attachments)
        try:
            await ctx.mailer.send(message)
        except MailDeliveryError as exc:
            log.warning("returns notice not sent; will retry", transaction_id=transaction_id,
                        error=str(exc))  # fmt: skip
            raise RetryLater.configured(settings, str(exc)) from exc
    log.info("returns notice sent", transaction_id=transaction_id)


def _attach(message: EmailMessage, attachments: list[Attachment]) -> None:
    for attachment in attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )


async def _send_receipt(ctx: AppContext, payment_id: str) -> None:
    settings = ctx.settings
    # The VAT receipt first, issued and committed on its own (documents): then attached.
    attachments = await ctx.attachments.for_receipt(uuid.UUID(payment_id))
    async with unit_of_work(ctx.db_pool) as db:
        payment = await receipts.lock_for_receipt(db, uuid.UUID(payment_id))
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
            # One receipt per purchase: a resend of it (at-least-once delivery) keeps its id.
            message_id=ctx.mailer.message_id(f"receipt-{payment.id}"),
            top_up_settings_url=(
                f"{settings.frontend_url.rstrip('/')}/wallet#auto-top-up"
                if payment.automatic
                else None
            ),
        )
        _attach(message, attachments)
        try:
            await ctx.mailer.send(message)
        except MailDeliveryError as exc:
            log.warning("receipt not sent; will retry", payment_id=payment_id, error=str(exc))
            raise RetryLater.configured(settings, str(exc)) from exc
        await receipts.mark_receipt_sent(db, payment.id)
    log.info("receipt sent", payment_id=payment_id)


async def retry_stalled_receipts(
    ctx: AppContext, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS
) -> list[int]:
    """Put email jobs (receipts, notices) whose worker died mid-job back in the queue; returns
    their ids.

    Stalled means 'doing' with a worker that stopped heart-beating (or was pruned), per
    procrastinate's JobManager.get_stalled_jobs. The retry counts as an attempt and runs at
    once; the job itself decides (under the payment's lock, or its sent_notices claim) whether
    the email is still due.
    """
    manager = ctx.jobs.job_manager
    stalled = []
    for task_name in EMAIL_TASKS:
        stalled += await manager.get_stalled_jobs(
            task_name=task_name, seconds_since_heartbeat=seconds_since_heartbeat
        )
    retried = []
    for job in stalled:
        assert job.id is not None
        try:
            await manager.retry_job(job)
        except ConnectorException as exc:  # finished or retried meanwhile: nothing to do
            log.warning("stalled receipt job not retried", job_id=job.id, error=str(exc))
            continue
        retried.append(job.id)
        log.warning("stalled email job retried", job_id=job.id, attempts=job.attempts,
                    task=job.task_name, task_kwargs=job.task_kwargs)  # fmt: skip
    return retried


# Every five minutes, offset from the checkout reconciliation; the lock keeps two runs apart.
@blueprint.periodic(cron="2-59/5 * * * *")
@blueprint.task(
    name="retry_stalled_receipts",
    pass_context=True,
    lock="receipts-stalled",
    queueing_lock="receipts-stalled",
)
async def retry_stalled_receipts_task(context: procrastinate.JobContext, timestamp: int) -> None:
    await retry_stalled_receipts(app_context(context))
