"""Enqueueing an email job in the caller's own transaction, on either kind of session.

Through a request's ORM session this is procrastinate's ordinary `defer`. On the webhook's
lean path (raw psycopg, pipeline mode) the job goes in with procrastinate's own defer query
and job type (`procrastinate.sql.queries["defer_jobs"]`, `types.JobToDefer`), queued on the
same connection without waiting for its id: no extra round trip and none of the per-job
Python work (and INFO logging) of the task API, which would be a quarter of a webhook
delivery's cost. Either way the job commits with the change that causes it or not at all.
Every email goes to the polled queue (jobs.queues), so enqueueing adds no NOTIFY lock.
"""

from __future__ import annotations

from typing import Any

from procrastinate import sql, types
from psycopg.types.json import Jsonb

from medgrader.core.context import AppContext
from medgrader.db.lean import LeanSession, SqlSession
from medgrader.jobs.queue import defer_in_transaction
from medgrader.jobs.queues import RECEIPTS_QUEUE


async def enqueue_email(
    session: SqlSession, ctx: AppContext, task_name: str, **task_kwargs: Any
) -> None:
    if not isinstance(session, LeanSession):
        await defer_in_transaction(ctx.jobs, session, task_name, **task_kwargs)
        return
    job = types.JobToDefer(
        queue_name=RECEIPTS_QUEUE,
        task_name=task_name,
        priority=0,
        lock=None,
        queueing_lock=None,
        args=Jsonb(task_kwargs),  # type: ignore[arg-type]
        scheduled_at=None,
    )
    await session.connection.execute(sql.queries["defer_jobs"], {"jobs": [job]})
