"""Admin-initiated refunds: check, ask Stripe, record with the credits taken back.

Three steps, each its own transaction edge, so that no pooled connection is held while Stripe
answers: (1) a short read transaction checks the request against the payment (and replays an
earlier answer under the same Idempotency-Key); (2) Stripe is asked, with an idempotency key
derived from ours, so a retried request never refunds twice; (3) a short write transaction
records Stripe's refund through the one returns function (`payments.returns.apply_returns`),
which takes the credits back in the same transaction. A webhook for the same refund may get
there first: then (3) finds the refund recorded and its share of the clawback fixed, and
answers with it.

The balance check of (1) is a courtesy to the admin, not a guard: between (1) and (3) the
student may spend, and the clawback is then allowed to take the balance below zero (the one
thing a clawback may do), which is logged as an alert.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from medgrader.core.context import AppContext, short_transaction
from medgrader.db.lean import SqlSession
from medgrader.idempotency import store
from medgrader.idempotency.keys import request_hash, validate_key
from medgrader.idempotency.store import KEY_MESSAGES, PriorVerdict
from medgrader.models.holds import held_sql
from medgrader.payments import repository
from medgrader.payments.observations import (
    ADMIN_METADATA_KEY,
    NOTE_METADATA_KEY,
    RefundSeen,
)
from medgrader.payments.returns import (
    LockedPayment,
    apply_returns,
    credits_to_take_back,
    lock_payment_by_id,
)
from medgrader.payments.schemas import RefundPreviewOut
from medgrader.payments.service import PaymentNotFound, parse_payment_id, refund_out
from medgrader.payments.stripe_gateway import StripeRefundRefused

REFUND_OPERATION = "admin.payment_refund"

# The balance the student can still use: credits held for a live call are spoken for.
_PAYMENT = text(
    f"""
    SELECT p.id, p.student_id, p.amount_pence, p.currency, p.credits, p.status,
           p.amount_refunded_pence, p.amount_disputed_pence, p.credits_clawed_back,
           p.returns_version, p.stripe_payment_intent_id, p.stripe_charge_id,
           s.credit_balance - {held_sql("p.student_id")} AS available,
           EXISTS (SELECT 1 FROM disputes d WHERE d.payment_id = p.id
                     AND d.status NOT IN ('won', 'warning_closed')) AS disputed
      FROM payments p JOIN student_profiles s ON s.user_id = p.student_id
     WHERE p.id = :id
    """  # noqa: S608 - only the constant held-credits expression is interpolated
)


def refundable_without_negative_balance(payment: LockedPayment, balance: int) -> int:
    """The most pence that can be refunded now without taking the balance below zero.

    The rule takes back ceil(C*R/A) in total; keeping that within what is already taken back
    plus the balance (K credits) means C*R <= K*A, i.e. R <= floor(K*A/C).
    """
    most_credits = min(payment.credits, payment.clawed_back + max(balance, 0))
    returned_now = payment.refunded + payment.disputed
    most_pence = most_credits * payment.amount // payment.credits - returned_now
    return max(0, min(payment.amount - returned_now, most_pence))


@dataclass(frozen=True)
class RefundPreview:
    payment: LockedPayment
    balance: int  # available: the balance less credits held for live calls
    disputed: bool
    refundable: int  # pence still refundable
    amount: int  # pence this refund would return (the default: all that is refundable)
    credits_to_claw_back: int

    @property
    def balance_after(self) -> int:
        return self.balance - self.credits_to_claw_back

    @property
    def without_negative_balance(self) -> int:
        return refundable_without_negative_balance(self.payment, self.balance)

    def out(self) -> RefundPreviewOut:
        return RefundPreviewOut(
            payment_id=self.payment.id,
            amount=self.amount,
            refundable_amount=self.refundable,
            credits_to_claw_back=self.credits_to_claw_back,
            balance=self.balance,
            balance_after=self.balance_after,
            refundable_without_negative_balance=self.without_negative_balance,
            disputed=self.disputed,
        )


async def preview_refund(
    session: SqlSession, payment_id: uuid.UUID | str, amount: int | None = None
) -> RefundPreview:
    """What refunding `amount` pence (default: all that is left) would do now; raises
    PaymentNotFound. Read-only: the pages show it before the admin confirms."""
    row = (await session.execute(_PAYMENT, {"id": parse_payment_id(payment_id)})).one_or_none()
    if row is None:
        raise PaymentNotFound()
    payment = LockedPayment.of(row)
    refundable = max(0, payment.amount - payment.refunded - payment.disputed)
    wanted = refundable if amount is None else amount
    target = credits_to_take_back(
        credits=payment.credits,
        amount=payment.amount,
        returned=payment.refunded + payment.disputed + wanted,
    )
    return RefundPreview(
        payment=payment,
        balance=int(row.available),
        disputed=bool(row.disputed),
        refundable=refundable,
        amount=wanted,
        credits_to_claw_back=max(0, target - payment.clawed_back),
    )


@dataclass(frozen=True)
class RefundOutcome:
    """The HTTP answer: 201 with the refund, or a refusal (nothing refunded)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def _refusal(status: int, message: str, code: str, **extra: Any) -> RefundOutcome:
    return RefundOutcome(status, {"error": message, "code": code, **extra})


def _check(preview: RefundPreview, allow_negative_balance: bool) -> RefundOutcome | None:
    """A refusal for a refund that must not go to Stripe, or None."""
    if preview.disputed or preview.payment.status == "DISPUTE_LOST":
        return _refusal(409, "This payment is disputed; it cannot be refunded.", "payment_disputed")
    if preview.refundable == 0 or not 1 <= preview.amount <= preview.refundable:
        return _refusal(
            422,
            f"At most {preview.refundable} pence of this payment can be refunded.",
            "amount_not_refundable",
            refundableAmount=preview.refundable,
        )
    if preview.balance_after < 0 and not allow_negative_balance:
        return _refusal(
            409,
            f"The student has spent some of these credits: refunding {preview.amount} pence "
            f"takes back {preview.credits_to_claw_back} credits from a balance of "
            f"{preview.balance}. Refund at most {preview.without_negative_balance} pence, or "
            "confirm with allowNegativeBalance.",
            "credits_already_spent",
            refundableWithoutNegativeBalance=preview.without_negative_balance,
            creditsToClawBack=preview.credits_to_claw_back,
            balance=preview.balance,
        )
    return None


async def refund_payment(
    ctx: AppContext,
    *,
    payment_id: uuid.UUID | str,
    admin_id: uuid.UUID,
    amount: int | None = None,
    reason: str | None = None,
    note: str | None = None,
    allow_negative_balance: bool = False,
    idempotency_key: str | None = None,
) -> RefundOutcome:
    """Refund a payment (all that is left by default) and take its credits back.

    Raises PaymentNotFound, BadRequest for a malformed key, and the gateway's BadGateway when
    Stripe cannot answer (then nothing is written). Opens its own short transactions: call
    it with no transaction open.
    """
    target = parse_payment_id(payment_id)
    key = validate_key(idempotency_key) if idempotency_key is not None else None
    fingerprint = request_hash(
        {"payment": str(target), "amount": amount, "reason": reason, "note": note,
         "allowNegativeBalance": allow_negative_balance}
    )  # fmt: skip
    async with short_transaction(ctx) as session:
        if key is not None:
            prior = await store.stored_response(
                session, owner_id=admin_id, operation=REFUND_OPERATION, key=key
            )
            if prior is not None:
                if prior.request_hash != fingerprint:
                    verdict = PriorVerdict.KEY_REUSED
                    return _refusal(409, KEY_MESSAGES[verdict], verdict.value)
                return RefundOutcome(prior.status, prior.body, replayed=True)
        preview = await preview_refund(session, target, amount)
    refusal = _check(preview, allow_negative_balance)
    if refusal is not None:
        return refusal
    if preview.payment.payment_intent is None:  # e.g. a session Stripe said needed no payment
        return _refusal(409, "Stripe holds no payment to refund.", "payment_not_refundable")

    metadata = {"payment_id": str(target), ADMIN_METADATA_KEY: str(admin_id)}
    if note:
        metadata[NOTE_METADATA_KEY] = note[:500]
    try:
        created = await ctx.stripe.create_refund(
            payment_intent=preview.payment.payment_intent,
            amount=preview.amount,
            reason=reason,
            metadata=metadata,
            idempotency_key=_stripe_key(preview, key),
        )
    except StripeRefundRefused as exc:
        return _stripe_refusal(exc, preview)

    observation = RefundSeen.of(created)
    async with short_transaction(ctx) as session:
        payment = await lock_payment_by_id(session, target)
        assert payment is not None  # payments are never deleted
        await apply_returns(session, ctx, payment, [observation], actor_id=admin_id)
        row = await repository.refund_by_stripe_id(session, observation.stripe_id)
        assert row is not None  # recorded just now, or by the webhook before us
        body = refund_out(row).model_dump(mode="json", by_alias=True)
        if key is not None:
            stored = await store.save_response(
                session, owner_id=admin_id, operation=REFUND_OPERATION, key=key,
                request_hash=fingerprint, status=201, body=body,
            )  # fmt: skip
            body = stored.body
    return RefundOutcome(201, body)


def _stripe_key(preview: RefundPreview, key: str | None) -> str:
    """Stripe's idempotency key: derived from ours, so a retry never refunds twice; without
    ours, from the payment's state and the amount, so a double click or a retry before
    anything changed is the same request to Stripe (Stripe keeps keys 24 hours)."""
    payment = preview.payment
    if key is not None:
        return f"medgrader-refund:{payment.id}:{key}"
    return f"medgrader-refund:{payment.id}:v{payment.version}:{preview.amount}"


def _stripe_refusal(exc: StripeRefundRefused, preview: RefundPreview) -> RefundOutcome:
    """Stripe knew better than our record (a Dashboard refund or a dispute just landed)."""
    if exc.stripe_code == "charge_disputed":
        return _refusal(409, "This payment is disputed; it cannot be refunded.", "payment_disputed")
    if exc.stripe_code in ("charge_already_refunded", "amount_too_large"):
        return _refusal(
            422,
            "Stripe says less of this payment is left to refund than we knew; it will be "
            "brought up to date by Stripe's events.",
            "amount_not_refundable",
            **({"refundableAmount": 0} if exc.stripe_code == "charge_already_refunded" else {}),
        )
    raise exc
