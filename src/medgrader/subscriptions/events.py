"""What the webhook handlers (webhooks.service) do with a subscription's Stripe events.

Paid invoices and subscription changes are read again from Stripe when handled (`ask_*`, called
with no connection held): what Stripe says NOW is applied, so duplicates, reordering and late
deliveries cannot move anything backwards. A failed payment needs no question: our row goes
PAST_DUE and the student is told, with a link to update the card.
"""

from __future__ import annotations

from typing import Any

import structlog

from medgrader.checkout.fulfilment import Outcome
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.models.subscriptions import SubscriptionStatus
from medgrader.payments.observations import MalformedStripeObject
from medgrader.subscriptions import repository
from medgrader.subscriptions.invoices import apply_paid_invoice, lock_subscription, subscription_of
from medgrader.subscriptions.notices import enqueue_payment_failed
from medgrader.subscriptions.sync import apply_stripe_subscription

log = structlog.get_logger(__name__)

INVOICE_PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def _id(obj: dict[str, Any]) -> str:
    found = obj.get("id")
    if not isinstance(found, str) or not found:
        raise MalformedStripeObject("data.object.id")
    return found


async def ask_invoice(ctx: AppContext, obj: dict[str, Any]) -> dict[str, Any]:
    return await ctx.stripe.retrieve_invoice(_id(obj))


async def invoice_paid(db: Db, invoice_now: dict[str, Any]) -> Outcome:
    return await apply_paid_invoice(db, invoice_now)


async def ask_subscription(ctx: AppContext, obj: dict[str, Any]) -> dict[str, Any]:
    return await ctx.stripe.retrieve_subscription(_id(obj))


async def subscription_changed(db: Db, subscription_now: dict[str, Any]) -> Outcome:
    return await apply_stripe_subscription(db, subscription_now)


async def payment_failed(db: Db, invoice: dict[str, Any]) -> Outcome:
    """A renewal's payment failed: PAST_DUE (no credits for that period until its invoice is
    paid, then granted with that invoice's period), and an email with the portal link.

    `invoice` is the invoice as Stripe has it NOW (asked when the event is handled): a failure
    reported late, after a retry paid the invoice, changes nothing."""
    if invoice.get("status") == "paid":
        return Outcome("stale: the invoice has been paid since")
    stripe_id = subscription_of(invoice)
    if stripe_id is None:
        return Outcome("not_a_subscription_invoice")
    row = await lock_subscription(db, invoice, stripe_id)
    if row is None:
        return Outcome("unknown_subscription")
    if row.status == SubscriptionStatus.CANCELED:
        return Outcome("unchanged: already CANCELED")
    await repository.set_fields(db, row.id, status=SubscriptionStatus.PAST_DUE)
    await enqueue_payment_failed(db, row.id, _id(invoice), invoice.get("attempt_count"))
    log.warning("subscription payment failed", subscription_id=str(row.id),
                invoice=invoice.get("id"))  # fmt: skip
    return Outcome("subscription_past_due")
