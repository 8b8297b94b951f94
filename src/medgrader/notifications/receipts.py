"""The purchase receipt's rows: enqueueing it in the purchase's own transaction (every email
goes to the polled queue, jobs.queues, so enqueueing adds no NOTIFY lock to the commit), and
the payment it reports, locked while it is sent and marked sent (notifications.tasks)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from medgrader.db.session import Db, no_rows
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE


async def enqueue_receipt(db: Db, payment_id: uuid.UUID) -> None:
    await defer_in_transaction(db, RECEIPT_TASK, queue=RECEIPTS_QUEUE, payment_id=str(payment_id))


_RECEIPT = text(
    """
    SELECT p.id, p.credits, p.amount_pence, p.currency, p.package_name, p.paid_at,
           p.receipt_sent_at, u.email, s.first_name,
           p.top_up_attempt_id IS NOT NULL AS automatic
      FROM payments p
      JOIN users u ON u.id = p.student_id
      JOIN student_profiles s ON s.user_id = p.student_id
     WHERE p.id = :id
       FOR UPDATE OF p
    """
)
_RECEIPT_SENT = no_rows(
    text("UPDATE payments SET receipt_sent_at = now(), updated_at = now() WHERE id = :id")
)


async def lock_for_receipt(db: Db, payment_id: uuid.UUID) -> Any | None:
    """The payment and its addressee, locked so that two senders cannot both send."""
    return (await db.execute(_RECEIPT, {"id": payment_id})).one_or_none()


async def mark_receipt_sent(db: Db, payment_id: uuid.UUID) -> None:
    await db.execute(_RECEIPT_SENT, {"id": payment_id})
