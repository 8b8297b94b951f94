"""Subscription jobs: the failed-payment email, and the reconciliation of paid invoices that no
webhook delivered.

Reconciliation: every known subscription (live, or canceled within `RECENT`) is asked about
its paid invoices (Stripe asked with no connection held), and each is applied, in its own unit
of work, with the same `apply_paid_invoice` the webhook uses: one not granted yet is granted
(exactly once, however it races the webhook), one granted already changes nothing. Then the
subscription's status is brought in step with Stripe's (`apply_stripe_subscription`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import procrastinate
import psycopg
import structlog

from medgrader.core.context import AppContext
from medgrader.core.errors import AppError
from medgrader.db.transactions import unit_of_work
from medgrader.jobs.queues import RECEIPTS_QUEUE
from medgrader.jobs.worker import app_context
from medgrader.notifications.emails import subscription_payment_failed_email
from medgrader.notifications.tasks import BackoffRetry, RetryLater
from medgrader.subscriptions import notices, repository
from medgrader.subscriptions.invoices import apply_paid_invoice
from medgrader.subscriptions.sync import apply_stripe_subscription

log = structlog.get_logger(__name__)
blueprint = procrastinate.Blueprint()

RECENT = timedelta(days=7)


@dataclass
class InvoiceReconciliation:
    subscriptions: int = 0
    credited: list[str] = field(default_factory=list)  # Stripe invoice ids
    errors: list[str] = field(default_factory=list)  # Stripe subscription ids


async def reconcile_subscription_invoices(ctx: AppContext) -> InvoiceReconciliation:
    report = InvoiceReconciliation()
    async with unit_of_work(ctx.db_pool) as db:
        known = await repository.known_for_reconciliation(db, datetime.now(UTC) - RECENT)
    for row in known:
        report.subscriptions += 1
        try:
            invoices = await ctx.stripe.paid_invoices(row.stripe_subscription_id)
            stripe_sub = await ctx.stripe.retrieve_subscription(row.stripe_subscription_id)
            for invoice in invoices:
                async with unit_of_work(ctx.db_pool) as db:
                    outcome = await apply_paid_invoice(db, invoice)
                if outcome.credited:
                    report.credited.append(str(invoice["id"]))
                    log.error("ALERT reconciliation credited a paid subscription invoice: its"
                              " webhook never did", alert="webhook_missed",
                              invoice=invoice["id"], subscription_id=str(row.id))  # fmt: skip
            # Its status too (a missed customer.subscription.deleted would leave it ACTIVE).
            async with unit_of_work(ctx.db_pool) as db:
                await apply_stripe_subscription(db, stripe_sub)
        except (AppError, psycopg.Error):
            log.warning("subscription reconciliation skipped one", exc_info=True,
                        stripe_subscription_id=row.stripe_subscription_id)  # fmt: skip
            report.errors.append(row.stripe_subscription_id)
    log.info("subscription reconciliation done", subscriptions=report.subscriptions,
             credited=len(report.credited), errors=len(report.errors))  # fmt: skip
    return report


@blueprint.periodic(cron="*/15 * * * *")
@blueprint.task(
    name="reconcile_subscription_invoices",
    pass_context=True,
    lock="subscriptions-reconcile",
    queueing_lock="subscriptions-reconcile",
)
async def reconcile_subscription_invoices_task(
    context: procrastinate.JobContext, timestamp: int
) -> None:
    await reconcile_subscription_invoices(app_context(context))


@blueprint.task(
    name="send_payment_failed", queue=RECEIPTS_QUEUE, pass_context=True, retry=BackoffRetry()
)
async def send_payment_failed(
    context: procrastinate.JobContext, subscription_id: str, invoice_id: str, attempt: int
) -> None:
    """Tell the student a renewal's payment failed, with a Billing Portal link (once per
    invoice attempt)."""
    ctx = app_context(context)
    await send_payment_failed_notice(ctx, uuid.UUID(subscription_id), invoice_id, attempt)


async def send_payment_failed_notice(
    ctx: AppContext, subscription_id: uuid.UUID, invoice_id: str, attempt: int
) -> None:
    async with unit_of_work(ctx.db_pool) as db:
        row = await notices.addressee(db, subscription_id)
    if row is None or row.stripe_customer_id is None:
        log.error("payment-failed notice for an unknown subscription", id=str(subscription_id))
        return
    frontend = ctx.settings.frontend_url.rstrip("/")
    try:  # no connection held while Stripe answers
        url = await ctx.stripe.create_portal_session(
            customer=row.stripe_customer_id, return_url=f"{frontend}/wallet"
        )
    except AppError as exc:
        raise RetryLater.configured(ctx.settings, str(exc)) from exc
    key = notices.notice_key(invoice_id, attempt)
    async with unit_of_work(ctx.db_pool) as db:
        if not await notices.claim(db, key):
            return  # sent already (a re-run)
        message = subscription_payment_failed_email(
            app_name=ctx.settings.app_name, to=row.email, first_name=row.first_name,
            plan_name=row.plan_name, amount_pence=row.price_pence, currency=row.currency,
            portal_url=url, message_id=ctx.mailer.message_id(key),
        )  # fmt: skip
        await ctx.mailer.send(message)  # a failure rolls the claim back; the job retries
    log.info("payment-failed notice sent", subscription_id=str(subscription_id))
