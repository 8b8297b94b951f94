"""The two ways to hold a transaction, both for the edges (a request, a job, a CLI command).

1. `unit_of_work(pool)`: the edge's `Db`, committed when the block ends and rolled back if it
   raises. A request gets one per request (core.deps.RequestDb: committed before the response
   is sent); a job or a CLI command opens its own.
2. `external_call(db)`: work around a call to the outside world (Stripe). The statements run
   so far (the reads, a claimed idempotency key) commit when the block starts and the
   connection goes back to the pool; the block runs holding none; statements after it run in
   a new transaction of the same unit of work. So a slow Stripe answer never holds a pooled
   connection, and a failed call leaves the first transaction's work committed and nothing of
   the second.

Services, repositories and domain functions take a `Db` and never import this module (an
import-linter contract says so): only an edge decides where a transaction begins and ends.

A refusal that is itself an answer (an idempotent operation's recorded refusal, a counted wrong
code) sets `keep_transaction = True`: the unit of work then commits before it propagates, so
that what it recorded stays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from medgrader.db.session import Db


def keeps_transaction(error: BaseException) -> bool:
    return bool(getattr(error, "keep_transaction", False))


@asynccontextmanager
async def unit_of_work(pool: AsyncConnectionPool, *, pipeline: bool = True) -> AsyncIterator[Db]:
    """One unit of work. `pipeline=False` for a streaming read (`Db.stream`)."""
    db = Db(pool, pipeline=pipeline)
    try:
        yield db
    except BaseException as error:
        await db._end(None if keeps_transaction(error) else error)
        raise
    await db._end(None)


@asynccontextmanager
async def external_call(db: Db) -> AsyncIterator[None]:
    """Commit what `db` has done so far and hold no connection while the block runs (see the
    module docstring). Statements after the block open the unit of work's next transaction."""
    await db._end(None)
    yield
    if db.holds_connection:
        raise RuntimeError("a statement ran on the unit of work inside external_call()")
