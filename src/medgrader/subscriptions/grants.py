"""Granting a paid subscription period's credits: ONE call site.

`grant_period` computes the period's lot terms (`lot_terms`: the credits expire at the end of
the invoice's period and are worth what the invoice paid), then, in the caller's transaction:
claims the invoice (`INSERT ... ON CONFLICT (stripe_invoice_id) DO NOTHING`: the exactly-once
gate, invariant 13; a concurrent second claimer waits on the UNIQUE index and then finds it
taken), records its Payment (UNIQUE stripe_invoice_id and payment intent), posts the credits
with the one ledger writer (source SUBSCRIPTION, source_id the invoice: a partial UNIQUE
index; idempotency key `subscription:<invoice>`) and enqueues the receipt email, all of which
commit together or not at all. The terms are stored on the `subscription_invoices` row and in
the entry's metadata, and handed to the lot writer: a PAID lot of source SUBSCRIPTION, of
`credits`, worth `value_pence` (GBP), expiring at `expires_at`. Nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medgrader.db.session import Db, no_rows
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import SourceType
from medgrader.models.lots import LotKind, LotSource
from medgrader.notifications.receipts import enqueue_receipt


@dataclass(frozen=True)
class PaidInvoice:
    """What a paid Stripe invoice says, once read and checked (subscriptions.invoices)."""

    stripe_invoice_id: str
    stripe_subscription_id: str
    billing_reason: str
    amount_paid: int
    currency: str
    period_start: datetime
    period_end: datetime
    payment_intent: str | None
    paid_at: datetime


@dataclass(frozen=True)
class LotTerms:
    credits: int
    value_pence: int
    expires_at: datetime


@dataclass(frozen=True)
class Granted:
    entry: LedgerEntry
    payment_id: uuid.UUID
    terms: LotTerms


def lot_terms(credits_per_period: int, invoice: PaidInvoice) -> LotTerms:
    """The period's paid lot: C = the plan's creditsPerPeriod, V = the amount the invoice paid,
    expiring at the end of the invoice's period."""
    return LotTerms(
        credits=credits_per_period, value_pence=invoice.amount_paid, expires_at=invoice.period_end
    )


_CLAIM = text(
    """
    INSERT INTO subscription_invoices (
        stripe_invoice_id, subscription_id, student_id, plan_id, stripe_subscription_id,
        billing_reason, amount_paid_pence, currency, credits, period_start, period_end,
        expires_at, value_pence, payment_id, paid_at)
    VALUES (:invoice, :subscription_id, :student_id, :plan_id, :stripe_subscription,
            :billing_reason, :amount, :currency, :credits, :period_start, :period_end,
            :expires_at, :value, :payment_id, :paid_at)
    ON CONFLICT (stripe_invoice_id) DO NOTHING
    RETURNING id
    """
)
_PAYMENT = no_rows(
    text(
        """
    INSERT INTO payments (id, student_id, type, status, stripe_invoice_id, stripe_subscription_id,
                          stripe_payment_intent_id, amount_pence, currency, credits,
                          package_name, paid_at)
    VALUES (:id, :student_id, 'SUBSCRIPTION', 'SUCCEEDED', :invoice, :stripe_subscription,
            :intent, :amount, :currency, :credits, :plan_name, :paid_at)
    """
    )
)


async def grant_period(
    db: Db, *, subscription: Any, plan: Any, invoice: PaidInvoice
) -> Granted | None:
    """Credit one paid invoice's period; None when this invoice was already granted.

    `subscription` is our row (locked by the caller), `plan` the plan whose Stripe Price the
    invoice charged (our row is the authority on the credits, never the invoice)."""
    terms = lot_terms(plan.credits_per_period, invoice)
    payment_id = uuid.uuid4()
    common = {
        "invoice": invoice.stripe_invoice_id,
        "student_id": subscription.student_id,
        "stripe_subscription": invoice.stripe_subscription_id,
        "amount": invoice.amount_paid,
        "currency": invoice.currency.upper(),
        "credits": terms.credits,
        "paid_at": invoice.paid_at,
    }
    claimed = await db.execute(
        _CLAIM,
        {**common, "subscription_id": subscription.id, "plan_id": plan.id,
         "billing_reason": invoice.billing_reason, "period_start": invoice.period_start,
         "period_end": invoice.period_end, "expires_at": terms.expires_at,
         "value": terms.value_pence, "payment_id": payment_id},
    )  # fmt: skip
    if claimed.one_or_none() is None:
        return None
    await db.execute(
        _PAYMENT,
        {**common, "id": payment_id, "intent": invoice.payment_intent, "plan_name": plan.name},
    )
    entry = await ledger.credit(
        db,
        student_id=subscription.student_id,
        amount=terms.credits,
        source_type=SourceType.SUBSCRIPTION,
        source_id=invoice.stripe_invoice_id,
        description=f"{plan.name}: credits for the period",
        metadata={
            "subscription_id": str(subscription.id),
            "plan_id": str(plan.id),
            "payment_id": str(payment_id),
            "stripe_subscription_id": invoice.stripe_subscription_id,
            "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(),
            "expires_at": terms.expires_at.isoformat(),
            "value_pence": terms.value_pence,
        },
        idempotency_key=f"subscription:{invoice.stripe_invoice_id}",
        kind=LotKind.PAID,
        source=LotSource.SUBSCRIPTION,
        expires_at=terms.expires_at,
        value_minor=terms.value_pence,
        currency="GBP",
    )
    # Same transaction: the receipt job exists if and only if the period's grant commits.
    await enqueue_receipt(db, payment_id)
    return Granted(entry=entry, payment_id=payment_id, terms=terms)
