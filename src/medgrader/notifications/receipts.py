"""Enqueueing the purchase receipt in the purchase's own transaction (see enqueue_email)."""

from __future__ import annotations

import uuid

from medgrader.core.context import AppContext
from medgrader.db.lean import SqlSession
from medgrader.jobs.queues import RECEIPT_TASK
from medgrader.notifications.enqueue import enqueue_email


async def enqueue_receipt(session: SqlSession, ctx: AppContext, payment_id: uuid.UUID) -> None:
    await enqueue_email(session, ctx, RECEIPT_TASK, payment_id=str(payment_id))
