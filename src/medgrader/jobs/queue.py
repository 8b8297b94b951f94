"""Enqueueing jobs on the procrastinate queue (the App itself is built in jobs.app).

A job that must follow a commit is deferred on the caller's own database connection
(`defer_in_transaction`), so it commits with the change that causes it or not at all.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession


async def driver_connection(session: AsyncSession) -> Any:
    """The psycopg AsyncConnection under the session's current transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def defer_in_transaction(
    jobs: procrastinate.App,
    session: AsyncSession,
    task_name: str,
    *,
    queueing_lock: str | None = None,
    **task_kwargs: Any,
) -> int:
    """Enqueue a job inside the session's transaction: it exists only if that commits."""
    connection = await driver_connection(session)
    deferrer = jobs.configure_task(
        name=task_name, connection=connection, queueing_lock=queueing_lock
    )
    return await deferrer.defer_async(**task_kwargs)
