"""Enqueueing the purchase receipt in the purchase's own transaction. Every email goes to the
polled queue (jobs.queues), so enqueueing adds no NOTIFY lock to the commit."""

from __future__ import annotations

import uuid

from medgrader.db.session import Db
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE


async def enqueue_receipt(db: Db, payment_id: uuid.UUID) -> None:
    await defer_in_transaction(db, RECEIPT_TASK, queue=RECEIPTS_QUEUE, payment_id=str(payment_id))
