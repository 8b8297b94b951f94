"""Races made deterministic with real PostgreSQL locks: wait until a backend is seen waiting
for another's lock (pg_blocking_pids, pg_locks), instead of sleeping and hoping it got there."""

from __future__ import annotations

import asyncio
import time

import psycopg

# How long a waiter may take to get there: a waiter that never waits is the test's failure.
PATIENCE_SECONDS = 10.0


async def blocked_on_row(db: psycopg.Connection, holder_pid: int, table: str) -> int:
    """The pid of a backend that waits for `holder_pid`'s lock on a row of `table` (it holds
    the heavyweight tuple lock a waiter for a row takes, and `holder_pid` blocks it). Polls
    from the caller's loop, yielding to it between looks, so that the waiter (a task or a
    thread of that loop) can get there."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        row = db.execute(
            """SELECT a.pid FROM pg_stat_activity a
                WHERE %s = ANY(pg_blocking_pids(a.pid))
                  AND EXISTS (SELECT 1 FROM pg_locks l
                               WHERE l.pid = a.pid AND l.locktype = 'tuple'
                                 AND l.relation = %s::regclass)""",
            (holder_pid, table),
        ).fetchone()
        if row is not None:
            return int(row[0])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no backend waited for pid {holder_pid}'s row of {table}")
        await asyncio.sleep(0.01)
