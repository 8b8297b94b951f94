"""A paid Stripe invoice of a subscription, turned into its period's credits exactly once.

One function, `apply_paid_invoice`, for every path: the `invoice.paid` and
`invoice.payment_succeeded` webhooks (the invoice retrieved from Stripe first, with its
payments) and the reconciliation. The invoice finds our subscription by its Stripe id, or,
before `checkout.session.completed` has linked it, by the row id we put in the subscription's
metadata (then it links it). Stripe's invoice must agree with our records: paid, GBP, the
amount of OUR plan whose Price it charged (the plan decides the credits, never the invoice).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from medgrader.checkout.fulfilment import Outcome
from medgrader.db.session import Db
from medgrader.models.subscriptions import SubscriptionStatus
from medgrader.payments.observations import MalformedStripeObject
from medgrader.subscriptions import repository
from medgrader.subscriptions.grants import PaidInvoice, grant_period

log = structlog.get_logger(__name__)

GRANTING_REASONS = ("subscription_create", "subscription_cycle")
UNKNOWN_SUBSCRIPTION = "unknown_subscription: kept unprocessed, replay once it is linked"


def _at(value: Any, what: str) -> datetime:
    if type(value) is not int:
        raise MalformedStripeObject(what)
    return datetime.fromtimestamp(value, UTC)


def subscription_of(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription (API 2026-10-28: under parent.subscription_details)."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    found = details.get("subscription") if isinstance(details, dict) else None
    if isinstance(found, dict):
        found = found.get("id")
    return found if isinstance(found, str) and found else None


def row_id_of(stripe_object: dict[str, Any]) -> uuid.UUID | None:
    """Our subscription row's id, from the metadata we gave Stripe's subscription (an invoice
    carries it under parent.subscription_details.metadata)."""
    metadata = stripe_object.get("metadata")
    parent = stripe_object.get("parent")
    if stripe_object.get("object") == "invoice" and isinstance(parent, dict):
        metadata = (parent.get("subscription_details") or {}).get("metadata")
    value = metadata.get("subscription_row_id") if isinstance(metadata, dict) else None
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _line(invoice: dict[str, Any]) -> dict[str, Any]:
    lines = (invoice.get("lines") or {}).get("data")
    if not isinstance(lines, list) or not lines or not isinstance(lines[0], dict):
        raise MalformedStripeObject("lines.data")
    return lines[0]


def price_of(invoice: dict[str, Any]) -> str | None:
    line = _line(invoice)
    pricing = line.get("pricing") or {}
    price = (pricing.get("price_details") or {}).get("price") if isinstance(pricing, dict) else None
    if price is None:  # older shapes
        price = line.get("price")
    if isinstance(price, dict):
        price = price.get("id")
    return price if isinstance(price, str) else None


def payment_intent_of(invoice: dict[str, Any]) -> str | None:
    """The PaymentIntent that paid it (from the expanded `payments`)."""
    payments = (invoice.get("payments") or {}).get("data")
    for payment in payments if isinstance(payments, list) else []:
        inner = payment.get("payment") if isinstance(payment, dict) else None
        intent = inner.get("payment_intent") if isinstance(inner, dict) else None
        if isinstance(intent, dict):
            intent = intent.get("id")
        if isinstance(intent, str) and payment.get("status") == "paid":
            return intent
    return None


def parse_paid(invoice: dict[str, Any], stripe_subscription_id: str) -> PaidInvoice:
    period = _line(invoice).get("period") or {}
    amount = invoice.get("amount_paid")
    if type(amount) is not int:
        raise MalformedStripeObject("amount_paid")
    transitions = invoice.get("status_transitions") or {}
    paid_at = transitions.get("paid_at") if isinstance(transitions, dict) else None
    return PaidInvoice(
        stripe_invoice_id=str(invoice["id"]),
        stripe_subscription_id=stripe_subscription_id,
        billing_reason=str(invoice.get("billing_reason")),
        amount_paid=amount,
        currency=str(invoice.get("currency") or ""),
        period_start=_at(period.get("start"), "lines.data[0].period.start"),
        period_end=_at(period.get("end"), "lines.data[0].period.end"),
        payment_intent=payment_intent_of(invoice),
        paid_at=_at(paid_at, "status_transitions.paid_at") if paid_at else datetime.now(UTC),
    )


async def lock_subscription(db: Db, stripe_object: dict[str, Any], stripe_id: str) -> Any | None:
    """Our row for Stripe's subscription `stripe_id`, locked; linked first if only the metadata
    knew it. None when we do not know it (or the metadata names a row linked to another)."""
    row = await repository.lock_by_stripe_id(db, stripe_id)
    if row is not None:
        return row
    row_id = row_id_of(stripe_object)
    row = await repository.lock(db, row_id) if row_id is not None else None
    if row is None or row.stripe_subscription_id not in (None, stripe_id):
        return None
    customer = stripe_object.get("customer")
    customer = customer.get("id") if isinstance(customer, dict) else customer
    await repository.set_fields(
        db, row.id, stripe_subscription_id=stripe_id,
        stripe_customer_id=customer if isinstance(customer, str) else row.stripe_customer_id,
    )  # fmt: skip
    return await repository.lock(db, row.id)


def _mismatches(row: Any, plan: Any, invoice: dict[str, Any], paid: PaidInvoice) -> list[str]:
    problems = []
    if plan is None:
        return [f"price {price_of(invoice)!r} is none of our plans"]
    if paid.amount_paid != plan.price_pence:
        problems.append(f"amount_paid {paid.amount_paid} != {plan.price_pence}")
    if paid.currency.upper() != plan.currency:
        problems.append(f"currency {paid.currency!r} != {plan.currency!r}")
    customer = invoice.get("customer")
    if row.stripe_customer_id and customer != row.stripe_customer_id:
        problems.append(f"customer {customer!r} != {row.stripe_customer_id!r}")
    return problems


async def apply_paid_invoice(db: Db, invoice: dict[str, Any]) -> Outcome:
    """Grant a paid invoice's period once, in the caller's transaction."""
    if invoice.get("status") != "paid":
        return Outcome(f"not_paid: status={invoice.get('status')}")
    if invoice.get("billing_reason") not in GRANTING_REASONS:
        return Outcome(f"no_grant: billing_reason={invoice.get('billing_reason')}")
    stripe_id = subscription_of(invoice)
    if stripe_id is None:
        return Outcome("not_a_subscription_invoice")
    row = await lock_subscription(db, invoice, stripe_id)
    if row is None:
        log.error("ALERT paid invoice of a subscription we do not know",
                  alert="unknown_subscription", stripe_subscription_id=stripe_id,
                  invoice=invoice.get("id"))  # fmt: skip
        return Outcome(UNKNOWN_SUBSCRIPTION, processed=False)
    paid = parse_paid(invoice, stripe_id)
    price = price_of(invoice)
    plan = await repository.plan_by_price(db, price) if price else None
    problems = _mismatches(row, plan, invoice, paid)
    if problems:
        detail = "; ".join(problems)
        log.error("ALERT subscription invoice does not match our records; nothing credited",
                  alert="subscription_invoice_mismatch", invoice=paid.stripe_invoice_id,
                  detail=detail)  # fmt: skip
        return Outcome(f"mismatch: {detail}")
    granted = await grant_period(db, subscription=row, plan=plan, invoice=paid)
    await _follow_period(db, row, plan, paid)
    if granted is None:
        return Outcome("already_credited")
    log.info("subscription period credited", invoice=paid.stripe_invoice_id,
             student_id=str(row.student_id), credits=granted.terms.credits)  # fmt: skip
    return Outcome("subscription_credited", credited=True, payment_id=granted.payment_id)


async def _follow_period(db: Db, row: Any, plan: Any, paid: PaidInvoice) -> None:
    """The row serves the newest paid period: its plan (a change takes effect here) and dates;
    a paid invoice makes a live subscription ACTIVE (a canceled one stays canceled)."""
    if row.current_period_end is not None and paid.period_end < row.current_period_end:
        return  # an older period delivered late: it changes nothing about the current one
    values: dict[str, Any] = {
        "plan_id": plan.id,
        "current_period_start": paid.period_start,
        "current_period_end": paid.period_end,
    }
    if row.next_plan_id == plan.id:
        values["next_plan_id"] = None
    if row.status != SubscriptionStatus.CANCELED:
        values["status"] = SubscriptionStatus.ACTIVE
    await repository.set_fields(db, row.id, **values)
