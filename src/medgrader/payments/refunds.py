"""Admin-initiated refunds: the rules of each step. The edge (payments.flows) runs them in
order around the Stripe call, through the idempotent runner:

1. `plan_refund` (first transaction): the request checked against the payment, resolved into
   exactly what Stripe is asked (the amount, reason, metadata and the idempotency key at
   Stripe); the runner stores this plan with the claimed key, before Stripe is called.
2. Stripe is asked with no connection held, under a key derived from ours alone, so a retried
   request never refunds twice: a retry whose first attempt died after Stripe refunded sends
   the stored plan again and Stripe answers with the refund it made then.
3. `record_refund` (second transaction): Stripe's refund through the one returns function
   (`payments.returns.apply_returns`), which takes the credits back in the same transaction.
   A webhook for the same refund may get there first: then the refund is found recorded, its
   share of the clawback fixed, and the answer is that refund.

The balance check of (1) is a courtesy to the admin, not a guard: between (1) and (3) the
student may spend, and the clawback is then allowed to take the balance below zero (the one
thing a clawback may do), which is logged as an alert.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from medgrader.core.adapters.stripe_errors import StripeRefundRefused
from medgrader.core.context import AppContext
from medgrader.core.errors import Refusal
from medgrader.db.session import Db
from medgrader.ledger.rules import available
from medgrader.payments import repository
from medgrader.payments.errors import (
    AmountNotRefundable,
    CreditsAlreadySpent,
    PaymentDisputed,
    PaymentNotFound,
    PaymentNotRefundable,
)
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
from medgrader.payments.rules import LOST, open_dispute
from medgrader.payments.schemas import RefundOut, RefundPreviewOut
from medgrader.payments.service import parse_payment_id, refund_out

# The balance the student can still use: credits held for a live call are spoken for.
_PAYMENT = text(
    f"""
    SELECT p.id, p.student_id, p.amount_pence, p.currency, p.credits, p.status,
           p.amount_refunded_pence, p.amount_disputed_pence, p.credits_clawed_back,
           p.returns_version, p.stripe_payment_intent_id, p.stripe_charge_id,
           {available("s.credit_balance", "p.student_id")} AS available,
           EXISTS (SELECT 1 FROM disputes d WHERE d.payment_id = p.id
                     AND ({open_dispute("d.status")} OR d.status = '{LOST}')) AS disputed,
           r.granted_credits AS bonus, r.bonus_taken_back AS bonus_taken_back
      FROM payments p JOIN student_profiles s ON s.user_id = p.student_id
      LEFT JOIN promotion_redemptions r
        ON r.checkout_session_id = p.checkout_session_id AND r.granted_credits > 0
     WHERE p.id = :id
    """  # noqa: S608 - only the constant rules are interpolated
)


def refundable_without_negative_balance(
    payment: LockedPayment, balance: int, bonus: tuple[int, int] = (0, 0)
) -> int:
    """The most pence that can be refunded now without taking the balance below zero.

    The rule takes back ceil(C*R/A) in total; keeping that within what is already taken back
    plus the balance (K credits) means C*R <= K*A, i.e. R <= floor(K*A/C). With a promotion's
    bonus (B granted, some taken back already) ceil(B*R/A) goes back too: the largest R whose
    two takings fit is found by bisection (both grow with R).
    """
    most_credits = min(payment.credits, payment.clawed_back + max(balance, 0))
    returned_now = payment.refunded + payment.disputed
    most_pence = most_credits * payment.amount // payment.credits - returned_now
    most = max(0, min(payment.amount - returned_now, most_pence))
    granted, taken = bonus
    if not granted:
        return most

    def fits(pence: int) -> bool:
        returned = returned_now + pence
        more = (
            credits_to_take_back(credits=payment.credits, amount=payment.amount, returned=returned)
            - payment.clawed_back
        )
        more += credits_to_take_back(credits=granted, amount=payment.amount, returned=returned)
        return more - taken <= max(balance, 0)

    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


@dataclass(frozen=True)
class RefundPreview:
    payment: LockedPayment
    balance: int  # available: the balance less credits held for live calls
    disputed: bool
    refundable: int  # pence still refundable
    amount: int  # pence this refund would return (the default: all that is refundable)
    credits_to_claw_back: int
    # A promotion's bonus on the purchase: (granted, already taken back).
    bonus: tuple[int, int] = (0, 0)

    @property
    def balance_after(self) -> int:
        return self.balance - self.credits_to_claw_back

    @property
    def without_negative_balance(self) -> int:
        return refundable_without_negative_balance(self.payment, self.balance, self.bonus)

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
    db: Db, payment_id: uuid.UUID | str, amount: int | None = None
) -> RefundPreview:
    """What refunding `amount` pence (default: all that is left) would do now; raises
    PaymentNotFound. Read-only: the pages show it before the admin confirms."""
    row = (await db.execute(_PAYMENT, {"id": parse_payment_id(payment_id)})).one_or_none()
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
    # A promotion's bonus goes back with the purchase, by the same rule (payments.returns).
    bonus_back = 0
    if row.bonus:
        bonus_target = credits_to_take_back(
            credits=row.bonus,
            amount=payment.amount,
            returned=payment.refunded + payment.disputed + wanted,
        )
        bonus_back = max(0, bonus_target - row.bonus_taken_back)
    return RefundPreview(
        payment=payment,
        balance=int(row.available),
        disputed=bool(row.disputed),
        refundable=refundable,
        amount=wanted,
        credits_to_claw_back=max(0, target - payment.clawed_back) + bonus_back,
        bonus=(row.bonus or 0, row.bonus_taken_back or 0),
    )


def check_refund(preview: RefundPreview, allow_negative_balance: bool) -> None:
    """Raise the refusal for a refund that must not go to Stripe."""
    if preview.disputed or preview.payment.status == "DISPUTE_LOST":
        raise PaymentDisputed()
    if preview.refundable == 0 or not 1 <= preview.amount <= preview.refundable:
        raise AmountNotRefundable(
            f"At most {preview.refundable} pence of this payment can be refunded.",
            refundableAmount=preview.refundable,
        )
    if preview.balance_after < 0 and not allow_negative_balance:
        raise CreditsAlreadySpent(
            f"The student has spent some of these credits: refunding {preview.amount} pence "
            f"takes back {preview.credits_to_claw_back} credits from a balance of "
            f"{preview.balance}. Refund at most {preview.without_negative_balance} pence, or "
            "confirm with allowNegativeBalance.",
            refundableWithoutNegativeBalance=preview.without_negative_balance,
            creditsToClawBack=preview.credits_to_claw_back,
            balance=preview.balance,
        )


@dataclass(frozen=True)
class RefundPlan:
    """Exactly what Stripe is asked: resolved once, stored with the Idempotency-Key, and sent
    again as it is by a retry (whatever happened to the payment in between)."""

    payment_id: uuid.UUID
    payment_intent: str
    amount: int
    reason: str | None
    metadata: dict[str, str]
    stripe_key: str  # the idempotency key at Stripe

    def dump(self) -> dict[str, Any]:
        return {
            "paymentId": str(self.payment_id),
            "paymentIntent": self.payment_intent,
            "amount": self.amount,
            "reason": self.reason,
            "metadata": self.metadata,
            "stripeKey": self.stripe_key,
        }

    @classmethod
    def load(cls, plan: dict[str, Any]) -> RefundPlan:
        return cls(
            payment_id=uuid.UUID(plan["paymentId"]),
            payment_intent=plan["paymentIntent"],
            amount=int(plan["amount"]),
            reason=plan["reason"],
            metadata=dict(plan["metadata"]),
            stripe_key=plan["stripeKey"],
        )

    async def send(self, ctx: AppContext) -> dict[str, Any]:
        """Ask Stripe (no connection held: the edge calls this in external_call)."""
        return await ctx.stripe.create_refund(
            payment_intent=self.payment_intent,
            amount=self.amount,
            reason=self.reason,
            metadata=self.metadata,
            idempotency_key=self.stripe_key,
        )


async def plan_refund(
    db: Db,
    payment_id: uuid.UUID,
    *,
    admin_id: uuid.UUID,
    amount: int | None,
    reason: str | None,
    note: str | None,
    allow_negative_balance: bool,
    idempotency_key: str | None,
) -> RefundPlan:
    """Step 1: check the request against the payment (raises PaymentNotFound or a refusal)
    and resolve it (all that is left when no amount is given)."""
    preview = await preview_refund(db, payment_id, amount)
    check_refund(preview, allow_negative_balance)
    if preview.payment.payment_intent is None:  # e.g. a session Stripe said needed no payment
        raise PaymentNotRefundable()
    metadata = {"payment_id": str(payment_id), ADMIN_METADATA_KEY: str(admin_id)}
    if note:
        metadata[NOTE_METADATA_KEY] = note[:500]
    return RefundPlan(
        payment_id=payment_id,
        payment_intent=preview.payment.payment_intent,
        amount=preview.amount,
        reason=reason,
        metadata=metadata,
        stripe_key=_stripe_key(preview, admin_id, idempotency_key),
    )


def _stripe_key(preview: RefundPreview, admin_id: uuid.UUID, key: str | None) -> str:
    """Stripe's idempotency key: derived from ours alone (the admin's key, hashed to fit
    Stripe's 255 characters), so a retry never refunds twice; without ours, from the
    payment's state and the amount, so a double click or a retry before anything changed is
    the same request to Stripe (Stripe keeps keys 24 hours)."""
    payment = preview.payment
    if key is not None:
        digest = hashlib.sha256(f"{admin_id}:{key}".encode()).hexdigest()
        return f"medgrader-refund:{digest}"
    return f"medgrader-refund:{payment.id}:v{payment.version}:{preview.amount}"


def stripe_refusal(exc: StripeRefundRefused) -> Refusal:
    """Stripe knew better than our record (a Dashboard refund or a dispute just landed): the
    refusal to answer; an unknown Stripe code stays a 502."""
    if exc.stripe_code == "charge_disputed":
        return PaymentDisputed()
    if exc.stripe_code in ("charge_already_refunded", "amount_too_large"):
        return AmountNotRefundable(
            "Stripe says less of this payment is left to refund than we knew; it will be "
            "brought up to date by Stripe's events.",
            **({"refundableAmount": 0} if exc.stripe_code == "charge_already_refunded" else {}),
        )
    raise exc


async def record_refund(
    db: Db, plan: RefundPlan, created: dict[str, Any], *, admin_id: uuid.UUID
) -> RefundOut:
    """Step 3: Stripe's refund, recorded with the credits it takes back (or found recorded by
    the refund's webhook)."""
    observation = RefundSeen.of(created)
    payment = await lock_payment_by_id(db, plan.payment_id)
    assert payment is not None  # payments are never deleted
    await apply_returns(db, payment, [observation], actor_id=admin_id)
    row = await repository.refund_by_stripe_id(db, observation.stripe_id)
    assert row is not None  # recorded just now, or by the webhook before us
    return refund_out(row)
