"""Enqueueing a job in the caller's own transaction (the App itself is built in jobs.app).

A job that must follow a commit goes in on the unit of work's own connection, so it commits
with the change that causes it or not at all. It is procrastinate's own defer query and job
type (`procrastinate.sql.queries["defer_jobs"]`, `types.JobToDefer`), queued in the pipeline
without waiting for the job's id: no extra round trip and none of the per-job Python work (and
INFO logging) of the task API, which would be a quarter of a webhook delivery's cost.
"""

from __future__ import annotations

from typing import Any

from procrastinate import sql, types
from psycopg.types.json import Jsonb

from medgrader.db.session import Db


async def defer_in_transaction(db: Db, task_name: str, *, queue: str, **task_kwargs: Any) -> None:
    """Enqueue `task_name(**task_kwargs)` on `queue` in the transaction of `db`."""
    job = types.JobToDefer(
        queue_name=queue,
        task_name=task_name,
        priority=0,
        lock=None,
        queueing_lock=None,
        args=Jsonb(task_kwargs),  # type: ignore[arg-type]
        scheduled_at=None,
    )
    connection = await db.connection()
    await connection.execute(sql.queries["defer_jobs"], {"jobs": [job]})
