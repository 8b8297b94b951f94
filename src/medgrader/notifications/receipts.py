"""Enqueueing the purchase receipt in the purchase's own transaction.

Through a request's ORM session this is procrastinate's ordinary `defer`. On the webhook's
lean path (raw psycopg, pipeline mode) the job goes in with procrastinate's own defer query
and job type (`procrastinate.sql.queries["defer_jobs"]`, `types.JobToDefer`), queued on the
same connection without waiting for its id: no extra round trip and none of the per-job
Python work (and INFO logging) of the task API, which would be a quarter of the delivery's
cost. Either way the job commits with the purchase or not at all.
"""

from __future__ import annotations

import uuid

from procrastinate import sql, types
from psycopg.types.json import Jsonb

from medgrader.core.context import AppContext
from medgrader.db.lean import LeanSession, SqlSession
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE


async def enqueue_receipt(session: SqlSession, ctx: AppContext, payment_id: uuid.UUID) -> None:
    if not isinstance(session, LeanSession):
        await defer_in_transaction(ctx.jobs, session, RECEIPT_TASK, payment_id=str(payment_id))
        return
    job = types.JobToDefer(
        queue_name=RECEIPTS_QUEUE,
        task_name=RECEIPT_TASK,
        priority=0,
        lock=None,
        queueing_lock=None,
        args=Jsonb({"payment_id": str(payment_id)}),  # type: ignore[arg-type]
        scheduled_at=None,
    )
    await session.connection.execute(sql.queries["defer_jobs"], {"jobs": [job]})
