"""A payment's Stripe charge id, learnt from Stripe the first time someone needs it.

Fulfilment records the payment intent only: a Checkout Session names no charge. Refund and
dispute events record the charge when they come; before any does, the back office asks
Stripe for the intent's latest charge when it shows the payment, and keeps the answer (never
replacing a charge id already recorded). The page drives the steps: `intent_to_ask` (a read),
`ask_stripe` in `external_call` (no connection held), `record_charge` (a write).
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import text

from medgrader.core.context import AppContext
from medgrader.core.errors import BadGateway
from medgrader.db.session import Db

log = structlog.get_logger(__name__)

_KNOWN = text("SELECT stripe_payment_intent_id, stripe_charge_id FROM payments WHERE id = :id")
_RECORD = text(
    """
    UPDATE payments SET stripe_charge_id = COALESCE(stripe_charge_id, :charge), updated_at = now()
     WHERE id = :id AND stripe_charge_id IS NULL
    """
)


async def intent_to_ask(db: Db, payment_id: uuid.UUID) -> str | None:
    """The payment intent to ask Stripe about: None when the payment does not exist, has no
    intent, or its charge is known already."""
    row = (await db.execute(_KNOWN, {"id": payment_id})).first()
    if row is None or row.stripe_charge_id or not row.stripe_payment_intent_id:
        return None
    return str(row.stripe_payment_intent_id)


async def ask_stripe(ctx: AppContext, payment_id: uuid.UUID, intent: str) -> str | None:
    """The intent's latest charge; None when Stripe has none or cannot be asked (logged: the
    page then shows none, and asks again next time). Call it holding no connection."""
    try:
        return await ctx.stripe.latest_charge(intent)
    except BadGateway:
        log.warning("could not ask Stripe for a payment's charge", payment_id=str(payment_id))
        return None


async def record_charge(db: Db, payment_id: uuid.UUID, charge: str) -> None:
    await db.execute(_RECORD, {"id": payment_id, "charge": charge})
