"""A payment's Stripe charge id, learnt from Stripe the first time someone needs it.

Fulfilment records the payment intent only: a Checkout Session names no charge. Refund and
dispute events record the charge when they come; before any does, the back office asks
Stripe for the intent's latest charge when it shows the payment, and keeps the answer (never
replacing a charge id already recorded). Stripe is asked with no transaction open.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import text

from medgrader.core.context import AppContext, short_transaction
from medgrader.core.errors import BadGateway

log = structlog.get_logger(__name__)

_KNOWN = text("SELECT stripe_payment_intent_id, stripe_charge_id FROM payments WHERE id = :id")
_RECORD = text(
    """
    UPDATE payments SET stripe_charge_id = COALESCE(stripe_charge_id, :charge), updated_at = now()
     WHERE id = :id AND stripe_charge_id IS NULL
    """
)


async def learn_charge_id(ctx: AppContext, payment_id: uuid.UUID) -> str | None:
    """The payment's charge id, asked of Stripe and recorded if we had none; None when the
    payment does not exist, has no intent, Stripe has no charge, or Stripe cannot be asked
    (logged: the page then shows none, and asks again next time)."""
    async with short_transaction(ctx) as session:
        row = (await session.execute(_KNOWN, {"id": payment_id})).first()
    if row is None or row.stripe_charge_id or not row.stripe_payment_intent_id:
        return row.stripe_charge_id if row is not None else None
    try:
        charge = await ctx.stripe.latest_charge(row.stripe_payment_intent_id)
    except BadGateway:
        log.warning("could not ask Stripe for a payment's charge", payment_id=str(payment_id))
        return None
    if charge is not None:
        async with short_transaction(ctx) as session:
            await session.execute(_RECORD, {"id": payment_id, "charge": charge})
    return charge
