"""The email a student gets when a renewal's payment fails: enqueued in the transaction that
marks the subscription PAST_DUE, sent once per invoice attempt (a `sent_notices` claim)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from medgrader.db.session import Db
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import PAYMENT_FAILED_TASK, RECEIPTS_QUEUE

ADDRESSEE = text(
    """
    SELECT s.id, s.stripe_customer_id, s.current_period_end, p.name AS plan_name,
           p.credits_per_period, p.price_pence, p.currency, u.email, sp.first_name
      FROM subscriptions s
      JOIN plans p ON p.id = s.plan_id
      JOIN users u ON u.id = s.student_id
      JOIN student_profiles sp ON sp.user_id = s.student_id
     WHERE s.id = :id
    """
)
CLAIM = text(
    "INSERT INTO sent_notices (key) VALUES (:key) ON CONFLICT (key) DO NOTHING RETURNING 1"
)


def notice_key(invoice_id: str, attempt: Any) -> str:
    return f"subscription-payment-failed:{invoice_id}:{attempt}"


async def enqueue_payment_failed(
    db: Db, subscription_id: uuid.UUID, invoice_id: str, attempt: Any
) -> None:
    await defer_in_transaction(
        db, PAYMENT_FAILED_TASK, queue=RECEIPTS_QUEUE, subscription_id=str(subscription_id),
        invoice_id=invoice_id, attempt=int(attempt) if type(attempt) is int else 0,
    )  # fmt: skip


async def addressee(db: Db, subscription_id: uuid.UUID) -> Any | None:
    return (await db.execute(ADDRESSEE, {"id": subscription_id})).one_or_none()


async def claim(db: Db, key: str) -> bool:
    """The "sent" record: it commits with the send, or rolls back with a failed one."""
    return (await db.execute(CLAIM, {"key": key})).first() is not None
