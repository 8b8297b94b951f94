"""Money going back, and the credits that go with it: ONE function for every path.

The admin refund endpoint, every refund and dispute webhook and the replay of stored events
all end in `apply_returns`, inside their own transaction (nothing here commits). It takes what
Stripe says about some of a payment's refunds and disputes (`observations`), records it in our
mirror (`refunds`, `disputes`) and brings the payment's credits into line with invariant 8:

    a purchase of C credits for A pence, of which R pence have been returned (refunds pending
    or succeeded, plus dispute funds withdrawn and not reinstated), has min(C, ceil(C*R/A))
    credits taken back in total.

The target is computed from the cumulative R every time, never by adding up per-event
roundings, so a full refund takes back exactly C and many partial ones never drift; the
difference from what the ledger already took back is posted as one entry (a clawback DEBIT,
or a CREDIT when money came back to us: a refund failed, a dispute won).

Exactly-once rests on the database. The payment row is locked (`lock_payment_*`, FOR UPDATE)
for the whole transaction, so concurrent handlers of one payment queue up and each sees the
totals the previous one committed. Should anything bypass the lock, the totals update is a
compare-and-set on `returns_version`, and every entry carries that version in its UNIQUE
idempotency key: a second writer of the same step fails and rolls back whole. Observations
only move a refund or dispute forward (see payments.observations), so the order in which
stale and fresh observations arrive does not matter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import Row

from medgrader.core import metrics
from medgrader.core.money import format_money
from medgrader.db.session import Db
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import ISSUE_DOCUMENTS_TASK, RECEIPTS_QUEUE
from medgrader.ledger import service as ledger
from medgrader.ledger.service import LedgerEntry
from medgrader.models.ledger import SourceType
from medgrader.models.payments import PaymentStatus
from medgrader.notifications.notices import enqueue_returns_notice
from medgrader.payments import returns_sql as sql
from medgrader.payments.observations import (
    DisputeSeen,
    Observation,
    RefundSeen,
    in_applying_order,
)
from medgrader.promotions import limits as promotion_limits

log = structlog.get_logger(__name__)


def credits_to_take_back(*, credits: int, amount: int, returned: int) -> int:
    """Invariant 8: min(C, ceil(C * R / A)), in integers."""
    if returned <= 0:
        return 0
    return min(credits, -(-credits * returned // amount))


def payment_status(
    *, amount: int, refunded: int, dispute_open: bool, dispute_lost: bool
) -> PaymentStatus:
    """An open dispute or a lost one (the newest dispute, as the database judges it by
    payments.rules) says it all; otherwise (no dispute, or one won or closed as an inquiry)
    the refunds do."""
    if dispute_open:
        return PaymentStatus.DISPUTED
    if dispute_lost:
        return PaymentStatus.DISPUTE_LOST
    if refunded >= amount:
        return PaymentStatus.REFUNDED
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.SUCCEEDED


@dataclass(frozen=True)
class LockedPayment:
    """A payment row as read under its lock, with the running totals."""

    id: uuid.UUID
    student_id: uuid.UUID
    amount: int
    currency: str
    credits: int
    status: str
    refunded: int
    disputed: int
    clawed_back: int
    version: int
    payment_intent: str | None
    charge: str | None

    @classmethod
    def of(cls, row: Row[Any]) -> LockedPayment:
        return cls(
            id=row.id,
            student_id=row.student_id,
            amount=row.amount_pence,
            currency=row.currency,
            credits=row.credits,
            status=row.status,
            refunded=row.amount_refunded_pence,
            disputed=row.amount_disputed_pence,
            clawed_back=row.credits_clawed_back,
            version=row.returns_version,
            payment_intent=row.stripe_payment_intent_id,
            charge=row.stripe_charge_id,
        )


async def lock_payment_by_id(db: Db, payment_id: uuid.UUID) -> LockedPayment | None:
    row = (await db.execute(sql.LOCK_BY_ID, {"id": payment_id})).one_or_none()
    return None if row is None else LockedPayment.of(row)


async def lock_payment_by_intent(db: Db, payment_intent: str) -> LockedPayment | None:
    row = (await db.execute(sql.LOCK_BY_INTENT, {"pi": payment_intent})).one_or_none()
    return None if row is None else LockedPayment.of(row)


class ConcurrentReturnsWrite(RuntimeError):
    """The totals moved under us: something changed the payment without its lock. The whole
    transaction must roll back (the caller's error path retries it)."""


@dataclass
class ReturnsOutcome:
    payment: LockedPayment
    entries: list[LedgerEntry] = field(default_factory=list)
    # Each observed refund's share of the clawback, as recorded (by whichever path was first).
    refund_shares: dict[str, int] = field(default_factory=dict)

    @property
    def code(self) -> str:
        if not self.entries:
            return "returns_unchanged"
        moved = sum(entry.delta for entry in self.entries)
        return f"returns_applied: {moved:+d} credits"


async def apply_returns(
    db: Db,
    payment: LockedPayment,
    observations: list[Observation],
    *,
    actor_id: uuid.UUID | None = None,
) -> ReturnsOutcome:
    """Record the observations and post what the rule now asks for; the caller holds the
    payment's lock (`lock_payment_*` in this transaction) and commits.

    Observations of another payment intent are ignored (a caller bug, logged loudly).
    """
    outcome = ReturnsOutcome(payment)
    for observation in in_applying_order(observations):
        if payment.payment_intent and observation.payment_intent not in (
            None,
            payment.payment_intent,
        ):
            log.error("ALERT observation of another payment ignored", alert="returns_mismatch",
                      payment_id=str(payment.id), stripe_id=observation.stripe_id)  # fmt: skip
            continue
        refund_row = await _record(db, payment, observation, actor_id)
        payment, entry = await _settle(db, payment, observation, refund_row)
        if entry is not None:
            outcome.entries.append(entry)
        if refund_row is not None:
            share = refund_row.credits_clawed_back
            if refund_row.inserted and entry is not None and entry.entry_type.value == "DEBIT":
                share = entry.amount
                await db.execute(sql.SET_SHARE, {"id": refund_row.id, "share": share})
            outcome.refund_shares[observation.stripe_id] = share
    outcome.payment = payment
    if observations:
        # A refund that succeeded or failed, a dispute lost: its credit or debit note is issued
        # by a job (medgrader.documents: a serial point, kept out of this transaction).
        await defer_in_transaction(
            db, ISSUE_DOCUMENTS_TASK, queue=RECEIPTS_QUEUE, payment_id=str(payment.id)
        )
    return outcome


async def _record(
    db: Db,
    payment: LockedPayment,
    observation: Observation,
    actor_id: uuid.UUID | None,
) -> Row[Any] | None:
    common = {
        "stripe_id": observation.stripe_id,
        "payment_id": payment.id,
        "student_id": payment.student_id,
        "amount": observation.amount,
        "currency": observation.currency,
        "status": observation.status,
        "reason": observation.reason,
        "created": observation.created,
    }
    if isinstance(observation, RefundSeen):
        actor = actor_id or observation.admin_id
        result = await db.execute(
            sql.UPSERT_REFUND,
            common
            | {
                "note": observation.note,
                "failure_reason": observation.failure_reason,
                "actor": str(actor) if actor else None,
                "succeeded": observation.status == "succeeded",
            },
        )
        return result.one()
    await db.execute(
        sql.UPSERT_DISPUTE,
        common
        | {
            "withdrawn": observation.funds_withdrawn,
            "bt_count": observation.balance_transaction_count,
        },
    )
    return None


async def _settle(
    db: Db,
    payment: LockedPayment,
    observation: Observation,
    refund_row: Row[Any] | None,
) -> tuple[LockedPayment, LedgerEntry | None]:
    totals = (await db.execute(sql.TOTALS, {"id": payment.id})).one()
    refunded = min(int(totals.refunded), payment.amount)
    disputed = min(int(totals.disputed), payment.amount)
    target = credits_to_take_back(
        credits=payment.credits, amount=payment.amount, returned=refunded + disputed
    )
    status = payment_status(
        amount=payment.amount,
        refunded=refunded,
        dispute_open=totals.dispute_open,
        dispute_lost=totals.dispute_lost,
    )
    charge = payment.charge or observation.charge
    if (refunded, disputed, target, status.value, charge) == (
        payment.refunded, payment.disputed, payment.clawed_back, payment.status, payment.charge,
    ):  # fmt: skip
        return payment, None
    updated = (
        await db.execute(
            sql.UPDATE_TOTALS,
            {
                "id": payment.id,
                "refunded": refunded,
                "disputed": disputed,
                "target": target,
                "status": status.value,
                "charge": charge,
                "version": payment.version,
            },
        )
    ).one_or_none()
    if updated is None:
        raise ConcurrentReturnsWrite(f"payment {payment.id} changed without its lock")
    before = payment
    payment = replace(
        payment,
        refunded=refunded,
        disputed=disputed,
        clawed_back=target,
        status=status.value,
        charge=charge,
        version=int(updated.returns_version),
    )
    await _settle_bonus(db, payment, observation)
    if payment.status == PaymentStatus.REFUNDED and before.status != PaymentStatus.REFUNDED:
        await promotion_limits.release_refunded(db, payment.id)
    delta = target - before.clawed_back
    if delta == 0:
        return payment, None
    actor = refund_row.actor_id if refund_row is not None else None
    entry = await _post(db, before, payment, observation, delta, actor)
    await enqueue_returns_notice(db, entry.id)
    return payment, entry


async def _settle_bonus(db: Db, payment: LockedPayment, observation: Observation) -> None:
    """The bonus credits a promotion gave with the purchase go back by the same rule, on what
    was paid: min(B, ceil(B*R/A)) of its B, at the same time as the purchase's own credits.
    Their entries are the bonus's (source_id bonus:<redemption>), keyed by the payment's step."""
    bonus = await promotion_limits.bonus_of_payment(db, payment.id)
    if bonus is None:
        return
    target = credits_to_take_back(
        credits=bonus.granted_credits,
        amount=payment.amount,
        returned=payment.refunded + payment.disputed,
    )
    delta = target - bonus.bonus_taken_back
    if delta == 0:
        return
    if not await promotion_limits.set_bonus_taken_back(
        db, bonus.id, before=bonus.bonus_taken_back, taken=target
    ):
        raise ConcurrentReturnsWrite(f"bonus {bonus.id} changed without its lock")
    source = SourceType.DISPUTE if isinstance(observation, DisputeSeen) else SourceType.REFUND
    posting: dict[str, Any] = {
        "student_id": payment.student_id,
        "amount": abs(delta),
        "source_type": source,
        "source_id": f"bonus:{bonus.id}",
        "metadata": {
            "paymentId": str(payment.id),
            "stripeObjectId": observation.stripe_id,
            "bonusTakenBackTotal": target,
        },
        "idempotency_key": f"returns-bonus:{payment.id}:{payment.version}",
    }
    if delta > 0:
        posting["description"] = f"Bonus credits of a refunded purchase: {delta} taken back"
        await ledger.clawback(db, **posting)
    else:
        posting["description"] = f"Bonus credits given back: {-delta}"
        await ledger.credit(db, **posting)


async def _post(
    db: Db,
    before: LockedPayment,
    after: LockedPayment,
    observation: Observation,
    delta: int,
    actor_id: uuid.UUID | None,
) -> LedgerEntry:
    source = SourceType.DISPUTE if isinstance(observation, DisputeSeen) else SourceType.REFUND
    returned_before = before.refunded + before.disputed
    returned_after = after.refunded + after.disputed
    money = format_money(abs(returned_after - returned_before), after.currency)
    posting: dict[str, Any] = {
        "student_id": after.student_id,
        "amount": abs(delta),
        "source_type": source,
        "source_id": str(after.id),
        "metadata": {
            "paymentId": str(after.id),
            "stripeObjectId": observation.stripe_id,
            "stripeStatus": observation.status,
            "returnedPenceBefore": returned_before,
            "returnedPenceAfter": returned_after,
            "creditsClawedBackTotal": after.clawed_back,
        },
        # One entry per step of the totals: a second writer of this step cannot exist.
        "idempotency_key": f"returns:{after.id}:{after.version}",
        "actor_id": actor_id,
    }
    if delta > 0:
        what = "Dispute" if source is SourceType.DISPUTE else "Refund"
        posting["description"] = f"{what} of {money}: {delta} credits taken back"
        entry = await ledger.clawback(db, **posting)
        if entry.balance_after < 0:
            log.error("ALERT a clawback took a balance below zero", alert="negative_balance",
                      student_id=str(after.student_id), payment_id=str(after.id),
                      balance_after=entry.balance_after)  # fmt: skip
    else:
        why = "dispute won" if source is SourceType.DISPUTE else f"refund {observation.status}"
        posting["description"] = f"{money} back to us ({why}): {-delta} credits returned"
        entry = await ledger.credit(db, **posting)
    cause = "dispute" if source is SourceType.DISPUTE else "refund"
    direction = "taken_back" if delta > 0 else "given_back"
    metrics.CLAWBACKS.labels(cause=cause, outcome=direction).inc()
    metrics.CLAWED_BACK_CREDITS.labels(direction=direction).inc(abs(delta))
    log.info("payment returns applied", payment_id=str(after.id), delta=-delta,
             clawed_back=after.clawed_back, returned_pence=returned_after,
             stripe_id=observation.stripe_id)  # fmt: skip
    return entry
