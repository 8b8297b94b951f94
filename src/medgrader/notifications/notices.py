"""The email a student gets when credits are taken back (refund, dispute) or returned (a
refund that failed, a dispute won): enqueued in the transaction that moves the credits."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from medgrader.db.session import Db
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPTS_QUEUE, RETURNS_NOTICE_TASK

# The entry, its payment's figures (from the entry's metadata) and the addressee, locked on the
# notice's row so that two runs of one job cannot both send.
NOTICE = text(
    """
    SELECT t.id, t.entry_type, t.amount, t.balance_after, t.source_type, t.created_at,
           CAST(t.metadata ->> 'paymentId' AS uuid) AS payment_id,
           t.metadata ->> 'stripeObjectId' AS stripe_object_id,
           (t.metadata ->> 'returnedPenceBefore')::bigint AS returned_before,
           (t.metadata ->> 'returnedPenceAfter')::bigint AS returned_after,
           p.currency, p.package_name, u.email, s.first_name
      FROM credit_transactions t
      JOIN payments p ON p.id = CAST(t.metadata ->> 'paymentId' AS uuid)
      JOIN users u ON u.id = t.student_id
      JOIN student_profiles s ON s.user_id = t.student_id
     WHERE t.id = :id
    """
)
CLAIM_NOTICE = text(
    "INSERT INTO sent_notices (key) VALUES (:key) ON CONFLICT (key) DO NOTHING RETURNING 1"
)
NOTICE_KEY = "returns:{}"


async def enqueue_returns_notice(db: Db, transaction_id: uuid.UUID) -> None:
    await defer_in_transaction(
        db, RETURNS_NOTICE_TASK, queue=RECEIPTS_QUEUE, transaction_id=str(transaction_id)
    )
