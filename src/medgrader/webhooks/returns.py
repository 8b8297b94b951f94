"""Refund and dispute events: ask Stripe what is true now, then apply it (the returns rule).

An event says what was true when it was sent; deliveries come in any order, more than once,
and late (a `charge.refunded` from before a `refund.failed`). So every one of these events is
handled the same way: the payment's refunds and disputes as Stripe has them NOW are fetched
(between transactions: no pooled connection held while Stripe answers), and handed, with
the event's own object, to the one returns function, which records them and posts whatever the
rule asks for. Observations only move a refund or dispute forward, so it does not matter which
of two concurrent handlers commits first: the payment ends equal to the rule applied to what
Stripe says now.

A refund or dispute can beat the purchase's own fulfilment (a card disputed at once, a webhook
of the purchase still failing): when we have no payment for the intent yet, Stripe is also
asked which Checkout Session made it, and that session is fulfilled first, in the same
transaction, by the one fulfilment function (exactly once, whoever else fulfils it), so the
credits bought and the credits taken back land together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import text

from medgrader.checkout.fulfilment import Outcome, apply_stripe_session
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.payments.observations import (
    DisputeSeen,
    MalformedStripeObject,
    Observation,
    RefundSeen,
)
from medgrader.payments.returns import apply_returns, lock_payment_by_intent

log = structlog.get_logger(__name__)

REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
CHARGE_EVENTS = ("charge.refunded",)
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
RETURNS_EVENTS = REFUND_EVENTS + CHARGE_EVENTS + DISPUTE_EVENTS

UNKNOWN_PAYMENT = "unknown_payment: kept unprocessed, replay once the payment exists"


class NoPaymentIntent(ValueError):
    pass


@dataclass(frozen=True)
class StripeNow:
    """What Stripe said, when asked, about one payment intent's refunds and disputes."""

    payment_intent: str
    refunds: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    # Asked only when we had no payment for the intent: the sessions that made it.
    sessions: tuple[dict[str, Any], ...] = ()


def payment_intent_of(obj: dict[str, Any]) -> str:
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    if not isinstance(intent, str) or not intent:
        raise NoPaymentIntent("data.object.payment_intent")
    return intent


_PAYMENT_KNOWN = text("SELECT 1 FROM payments WHERE stripe_payment_intent_id = :pi")


async def payment_known(db: Db, obj: dict[str, Any]) -> tuple[str, bool]:
    """The event's payment intent, and whether we have its payment (read before Stripe is
    asked). Raises NoPaymentIntent."""
    intent = payment_intent_of(obj)
    return intent, await db.scalar(_PAYMENT_KNOWN, {"pi": intent}) is not None


async def ask_stripe(ctx: AppContext, obj: dict[str, Any], *, known: tuple[str, bool]) -> StripeNow:
    """Call with no connection held (webhooks.flows). Raises the gateway's BadGateway if
    Stripe cannot answer (the delivery then fails and Stripe sends it again)."""
    intent, payment_exists = known
    sessions = () if payment_exists else tuple(await ctx.stripe.sessions_for_intent(intent))
    refunds, disputes = await ctx.stripe.payment_returns(intent)
    return StripeNow(intent, refunds, disputes, sessions)


def _parsed(kind: type[RefundSeen] | type[DisputeSeen], objects: Any) -> list[Observation]:
    """The objects that parse; one Stripe returns in a shape we do not know is logged and
    skipped, so that it cannot hold back (or mark processed without effect) every other
    refund and dispute of the payment."""
    seen: list[Observation] = []
    for obj in objects if isinstance(objects, list) else []:
        try:
            seen.append(kind.of(obj))
        except MalformedStripeObject as exc:
            log.error("ALERT a Stripe refund or dispute we cannot read was skipped",
                      alert="returns_unreadable", stripe_id=obj.get("id"),
                      detail=str(exc))  # fmt: skip
    return seen


def _observations(event_type: str, obj: dict[str, Any], now: StripeNow) -> list[Observation]:
    seen = _parsed(RefundSeen, now.refunds) + _parsed(DisputeSeen, now.disputes)
    # The event's own object too: harmless when stale (nothing moves backwards), and right
    # should a list Stripe answered lag behind the event.
    if event_type in REFUND_EVENTS:
        seen += _parsed(RefundSeen, [obj])
    elif event_type in DISPUTE_EVENTS:
        seen += _parsed(DisputeSeen, [obj])
    else:
        embedded = (obj.get("refunds") or {}).get("data") if isinstance(obj, dict) else None
        seen += _parsed(RefundSeen, [r for r in embedded or [] if isinstance(r, dict)])
    return seen


async def apply_stripe_now(db: Db, event_type: str, obj: dict[str, Any], now: StripeNow) -> Outcome:
    observations = _observations(event_type, obj, now)
    payment = await lock_payment_by_intent(db, now.payment_intent)
    for stripe_session in now.sessions if payment is None else ():
        # Ours and paid: fulfilled now (or found fulfilled meanwhile); anyone else's: ignored.
        await apply_stripe_session(db, stripe_session)
        payment = await lock_payment_by_intent(db, now.payment_intent)
    if payment is None:
        log.error("ALERT refund or dispute for a payment we do not know", alert="unknown_payment",
                  event_type=event_type, payment_intent=now.payment_intent,
                  stripe_id=obj.get("id"))  # fmt: skip
        return Outcome(UNKNOWN_PAYMENT, processed=False)
    outcome = await apply_returns(db, payment, observations)
    return Outcome(outcome.code, payment_id=payment.id)
