"""A lean database session for the webhook hot path: raw psycopg, no ORM, no per-use ping.

The webhook runs the very same `text()` statements as the rest of the code (the ledger's
posting, the checkout and payment repositories): they are reused, not copied. Only the way
they reach PostgreSQL differs: `LeanSession` compiles each statement once (SQLAlchemy's own
psycopg compiler) and executes it on a connection from a small dedicated psycopg pool. That
costs ~60 µs of Python per statement instead of ~200 µs through an ORM session, and a
transaction costs no pool ping and no begin/reset round trips.

The endpoint runs the transaction in psycopg's pipeline mode: BEGIN travels with the first
statement, statements whose rows nobody reads travel with the next one that is read, and
COMMIT with the last ones, so a delivery costs a handful of round trips instead of one per
statement.

`LeanSession` implements exactly what those text-statement functions use from an
`AsyncSession`: `execute(statement, params)` returning a result with `one()`,
`one_or_none()`, `first()`, `scalar_one()`, `all()` and iteration, and `scalar()`. Code that
needs more (ORM objects) must keep taking a real `AsyncSession`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from medgrader.config import Settings
from medgrader.db.pool import PromptReconnectPool

_DIALECT = PGDialect_psycopg()


# Statements whose rows nobody reads carry this execution option (see `no_rows`).
NO_ROWS = "lean_no_rows"


def no_rows(statement: TextClause) -> TextClause:
    """Mark a statement whose rows are never read, so the lean path may queue it in the
    pipeline instead of waiting for it (it travels with the next statement that is waited for,
    or with the COMMIT; an error it causes surfaces there and aborts the same transaction).

    Unmarked statements are always waited for: forgetting a mark costs a round trip, never a
    result. An ORM session ignores the option.
    """
    return statement.execution_options(**{NO_ROWS: True})


@lru_cache(maxsize=512)
def _compiled(statement: TextClause) -> tuple[str, bool]:
    """The SQL psycopg runs, and whether its rows are read.

    ":name" becomes "%(name)s", a literal "%" is escaped and typed bind parameters are cast
    (e.g. ::JSONB), all by SQLAlchemy's own psycopg compiler.
    """
    sql = str(statement.compile(dialect=_DIALECT))
    return sql, not statement.get_execution_options().get(NO_ROWS, False)


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


class UnreadResult(Exception):
    """Rows were asked of a statement marked `no_rows`: a bug, loudly (a 500 that is retried),
    never an empty result taken for "no such row"."""


class LeanResult:
    __slots__ = ("_unread_rows",)

    def __init__(self, rows: list[Any] | None) -> None:
        self._unread_rows = rows

    @property
    def _rows(self) -> list[Any]:
        if self._unread_rows is None:
            raise UnreadResult("this statement is marked no_rows; its rows were not fetched")
        return self._unread_rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("more than one row")
        return self.first()

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("no row")
        return row

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any | None:
        row = self.first()
        return None if row is None else row[0]


class LeanSession:
    """Runs text() statements on one psycopg connection, inside the caller's transaction."""

    __slots__ = ("connection",)

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def execute(
        self, statement: TextClause, params: Mapping[str, Any] | None = None
    ) -> LeanResult:
        """Run the statement and fetch its rows, unless it is marked `no_rows`: then, in
        pipeline mode, it is only queued (see `no_rows`)."""
        sql, read_rows = _compiled(statement)
        values = {k: _adapt(v) for k, v in (params or {}).items()}
        cursor = self.connection.cursor(row_factory=namedtuple_row)
        await cursor.execute(sql, values)  # type: ignore[arg-type]
        return LeanResult(await cursor.fetchall() if read_rows else None)

    async def scalar(
        self, statement: TextClause, params: Mapping[str, Any] | None = None
    ) -> Any | None:
        return (await self.execute(statement, params)).scalar()


# What the shared text-statement functions accept: a request's ORM session or a lean one.
SqlSession = AsyncSession | LeanSession


@asynccontextmanager
async def lean_transaction(pool: AsyncConnectionPool) -> AsyncIterator[LeanSession]:
    """One transaction in pipeline mode on a connection from `pool`: committed when the block
    ends, rolled back if it raises, and the connection back in the pool either way."""
    async with pool.connection() as connection, connection.pipeline(), connection.transaction():
        yield LeanSession(connection)


def create_lean_pool(libpq_url: str, settings: Settings) -> AsyncConnectionPool:
    """The hot path's own small pool (opened by the caller).

    No `check` on checkout: a connection that died is discarded when the failed request
    returns it, and the request answers 500, which Stripe retries. Reconnection after the
    database comes back is prompt (see medgrader.db.pool).
    """
    return PromptReconnectPool(
        libpq_url,
        min_size=1,
        max_size=settings.db_pool_size,
        open=False,
        kwargs={"options": "-c statement_timeout=30000 -c lock_timeout=10000"},
        name="webhooks",
    )
