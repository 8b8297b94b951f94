"""Settling an automatic top-up attempt: ONE function for every path that learns the outcome.

The job's own answer from Stripe, the `payment_intent.succeeded` / `payment_failed` webhooks
and reconciliation all call `apply_intent` (or `apply_decline`) inside their own transaction;
nothing here commits. Exactly-once rests on the database: the attempt row is locked
(`FOR UPDATE`), so racing settlements queue and the later ones find it settled; should
anything bypass the lock, UNIQUE (payments.top_up_attempt_id), UNIQUE
(payments.stripe_payment_intent_id), the partial UNIQUE index on TOP_UP entries' source_id and
the entry's idempotency key refuse the second writer, whose transaction rolls back whole.

Our attempt row is the authority on what is bought: Stripe's intent only has to agree with it
(succeeded, same amount and currency, same Customer, our attempt id in its metadata).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Row

from medgrader.core import metrics
from medgrader.db.session import Db
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPTS_QUEUE, TOP_UP_FAILED_TASK
from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from medgrader.models.lots import LotKind, LotSource
from medgrader.models.topups import IN_FLIGHT, AttemptStatus
from medgrader.notifications.receipts import enqueue_receipt
from medgrader.topups import repository as attempts

log = structlog.get_logger(__name__)

# Failures in a row that suspend automatic top-up until a different card or a fresh "on".
SUSPEND_AFTER_FAILURES = 3
METADATA_KEY = "top_up_attempt_id"


@dataclass(frozen=True)
class Settled:
    code: str  # succeeded, failed, already_settled, unknown_attempt, mismatch..., pending
    credited: bool = False
    payment_id: uuid.UUID | None = None

    def __str__(self) -> str:
        return self.code


def attempt_id_of(intent: dict[str, Any]) -> uuid.UUID | None:
    """Our attempt id from an intent's metadata (None: not a top-up intent)."""
    metadata = intent.get("metadata")
    value = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _mismatches(row: Row[Any], intent: dict[str, Any]) -> list[str]:
    problems = []
    if attempt_id_of(intent) != row.id:
        problems.append(f"metadata {METADATA_KEY} is not {row.id}")
    amount = intent.get("amount")
    if type(amount) is not int or amount != row.amount_pence:
        problems.append(f"amount {amount!r} != {row.amount_pence}")
    currency = intent.get("currency")
    if not isinstance(currency, str) or currency.lower() != row.currency.lower():
        problems.append(f"currency {currency!r} != {row.currency.lower()!r}")
    customer = intent.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if customer != row.stripe_customer_id:
        problems.append(f"customer {customer!r} != {row.stripe_customer_id!r}")
    return problems


def _charge_id(intent: dict[str, Any]) -> str | None:
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        charge = charge.get("id")
    return charge if isinstance(charge, str) else None


async def _lock(db: Db, attempt_id: uuid.UUID) -> Row[Any] | None:
    """The attempt, locked, after its student's balance row: the order every debit takes
    (balance row, then the attempts' in-flight index in ledger.threshold), so a settlement
    and a spend queueing the next attempt never wait for each other in a cycle."""
    row = await attempts.attempt(db, attempt_id)
    if row is None:
        return None
    await ledger.lock_balance(db, row.student_id)
    return await attempts.lock_attempt(db, attempt_id)


async def apply_intent(db: Db, attempt_id: uuid.UUID, intent: dict[str, Any]) -> Settled:
    """Bring the attempt in line with Stripe's PaymentIntent (a succeeded one is credited
    exactly once; a failed one fails the attempt; anything else is noted and waits)."""
    row = await _lock(db, attempt_id)
    if row is None:
        return Settled("unknown_attempt")
    if row.status == AttemptStatus.SUCCEEDED:
        return Settled("already_settled")
    status = intent.get("status")
    if status == "succeeded":
        return await _succeed(db, row, intent)
    if status == "requires_payment_method" and row.status in IN_FLIGHT:
        error = intent.get("last_payment_error") or {}
        return await _fail(
            db,
            row,
            code=str(error.get("code") or "card_declined"),
            decline=error.get("decline_code"),
            message=error.get("message"),
            intent_id=intent.get("id"),
        )
    if isinstance(intent.get("id"), str):
        await attempts.note_intent(db, row.id, intent["id"])
    return Settled(f"pending: status={status}")


async def apply_decline(
    db: Db,
    attempt_id: uuid.UUID,
    *,
    code: str,
    decline: str | None,
    message: str | None,
    intent_id: str | None,
) -> Settled:
    """Stripe refused the charge (its `card_error`): the attempt FAILED, nothing credited."""
    row = await _lock(db, attempt_id)
    if row is None:
        return Settled("unknown_attempt")
    if row.status not in IN_FLIGHT:
        return Settled("already_settled")
    return await _fail(db, row, code=code, decline=decline, message=message, intent_id=intent_id)


async def _succeed(db: Db, row: Row[Any], intent: dict[str, Any]) -> Settled:
    problems = _mismatches(row, intent)
    if problems:
        detail = "; ".join(problems)
        log.error("ALERT top-up intent does not match our attempt; nothing credited",
                  alert="top_up_mismatch", attempt_id=str(row.id), detail=detail)  # fmt: skip
        metrics.TOP_UP_ATTEMPTS.labels(outcome="mismatch", reason="mismatch").inc()
        return Settled(f"mismatch: {detail}")
    if row.status not in IN_FLIGHT:
        # Money was taken for an attempt we had written off: the student paid, so they get
        # the credits (as a late Checkout payment does).
        log.warning("crediting a top-up attempt we had marked %s", row.status,
                    attempt_id=str(row.id))  # fmt: skip
    # The Payment and the attempt first, then the posting (whose result is read), so that in
    # pipeline mode they travel together; see medgrader.db.session.
    payment_id = await attempts.succeed(
        db, row.id, intent_id=str(intent["id"]), charge_id=_charge_id(intent)
    )
    await ledger.credit(
        db,
        student_id=row.student_id,
        amount=row.credits,
        source_type=SourceType.TOP_UP,
        source_id=str(row.id),
        description=f"Automatic top-up: {row.package_name}",
        metadata={
            "package_id": str(row.package_id),
            "top_up_attempt_id": str(row.id),
            "payment_id": str(payment_id),
            "amount_pence": row.amount_pence,
            "currency": row.currency,
        },
        idempotency_key=f"top_up:{row.id}",
        # A PAID lot worth what the card was charged (the lots' value and liability).
        kind=LotKind.PAID,
        source=LotSource.TOP_UP,
        value_minor=row.amount_pence,
        currency=row.currency,
    )
    # Same transaction: the receipt (the same hook as a purchase's) iff the credit commits.
    await enqueue_receipt(db, payment_id)
    metrics.TOP_UP_ATTEMPTS.labels(outcome="succeeded", reason="").inc()
    log.info("automatic top-up credited", attempt_id=str(row.id),
             student_id=str(row.student_id), credits=row.credits,
             payment_id=str(payment_id))  # fmt: skip
    return Settled("succeeded", credited=True, payment_id=payment_id)


async def _fail(
    db: Db,
    row: Row[Any],
    *,
    code: str,
    decline: str | None,
    message: str | None,
    intent_id: str | None,
) -> Settled:
    after = await attempts.fail(
        db,
        row.id,
        suspend_after=SUSPEND_AFTER_FAILURES,
        code=code[:100],
        decline=decline[:100] if isinstance(decline, str) else None,
        message=message[:500] if isinstance(message, str) else None,
        intent=intent_id if isinstance(intent_id, str) else None,
        reason=f"{SUSPEND_AFTER_FAILURES} failed top-ups in a row",
    )
    # The student hears of it (the reason, or a link to pay on-session), with the commit.
    await defer_in_transaction(db, TOP_UP_FAILED_TASK, queue=RECEIPTS_QUEUE, attempt_id=str(row.id))
    metrics.TOP_UP_ATTEMPTS.labels(outcome="failed", reason=decline or code).inc()
    suspended = bool(after and after.suspended)
    log.warning("automatic top-up failed", attempt_id=str(row.id), code=code,
                decline_code=decline, suspended=suspended)  # fmt: skip
    return Settled("failed")
