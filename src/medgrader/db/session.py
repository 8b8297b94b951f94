"""`Db`: the application's one way to talk to PostgreSQL.

Statements are SQLAlchemy's: `text()` with `:name` parameters, or Core statements (select,
insert, update, delete on the models' tables). SQLAlchemy's own psycopg compiler turns them
into the SQL psycopg runs (":name" becomes "%(name)s", typed parameters are cast and bound
through the type's processor, e.g. JSONB); a `text()` statement is compiled once and cached,
a Core statement is compiled where it is built. They run on a raw psycopg connection: no ORM,
no identity map, no per-statement session bookkeeping.

A `Db` is a transaction that opens lazily: its first statement takes a connection from the
pool and begins. It is begun, committed and rolled back only by the edges, through
`medgrader.db.transactions` (a request, a job or a CLI command); services, repositories and
domain functions take a `Db` and never begin or commit.

Pipeline mode (the default): BEGIN travels with the first statement, statements whose rows
nobody reads (`no_rows`) travel with the next one that is read, and COMMIT with the last ones,
so a webhook delivery or a spend costs a handful of round trips instead of one per statement.
The measurement that chose this style is in docs/ARCHITECTURE.md. A streaming transaction
(`pipeline=False`) reads a large result through a server-side cursor (`stream`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import pq
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import TextClause

log = structlog.get_logger(__name__)
_DIALECT = PGDialect_psycopg()

# Statements whose rows nobody reads carry this execution option (see `no_rows`).
NO_ROWS = "medgrader_no_rows"

Statement = TextClause | Executable
S = TypeVar("S", bound=Statement)


def no_rows(statement: S) -> S:
    """Mark a statement whose rows are never read, so that in pipeline mode it is queued
    instead of waited for (it travels with the next statement that is waited for, or with the
    COMMIT; an error it causes surfaces there and aborts the same transaction).

    Unmarked statements are always waited for: forgetting a mark costs a round trip, never a
    result.
    """
    return statement.execution_options(**{NO_ROWS: True})  # type: ignore[return-value]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    read_rows: bool
    # Bind processors by parameter name (e.g. JSONB wraps a value in psycopg's Jsonb).
    processors: Mapping[str, Callable[[Any], Any]]
    # A Core statement's own values (None for text(): the caller passes them).
    values: Mapping[str, Any] | None = None


def _reads_rows(statement: Statement) -> bool:
    return not statement.get_execution_options().get(NO_ROWS, False)


@lru_cache(maxsize=1024)
def _compiled_text(statement: TextClause) -> _Compiled:
    compiled = statement.compile(dialect=_DIALECT)
    return _Compiled(compiled.string, _reads_rows(statement), dict(compiled._bind_processors))


def _compiled(statement: Statement, params: Mapping[str, Any] | None) -> _Compiled:
    if isinstance(statement, TextClause):
        return _compiled_text(statement)
    # Core: compiled here (its values are in it); expanding IN lists are rendered in place.
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return _Compiled(
        compiled.string,
        _reads_rows(statement),
        dict(compiled._bind_processors),
        compiled.construct_params(dict(params) if params else None),
    )


def _bound(compiled: _Compiled, params: Mapping[str, Any] | None) -> dict[str, Any]:
    values = dict(compiled.values if compiled.values is not None else (params or {}))
    for name, value in values.items():
        if value is None:
            continue
        processor = compiled.processors.get(name)
        if processor is not None:
            values[name] = processor(value)
        elif isinstance(value, dict):  # an untyped JSON object (a list may be an array)
            values[name] = Jsonb(value)
    return values


class UnreadResult(Exception):
    """Rows were asked of a statement marked `no_rows`: a bug, loudly (a 500 that is retried),
    never an empty result taken for "no such row"."""


class Result:
    """A statement's rows (named tuples) and its row count."""

    __slots__ = ("_unread_rows", "rowcount")

    def __init__(self, rows: list[Any] | None, rowcount: int = -1) -> None:
        self._unread_rows = rows
        self.rowcount = rowcount

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

    def scalar_one_or_none(self) -> Any | None:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar(self) -> Any | None:
        row = self.first()
        return None if row is None else row[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


_BEGIN, _COMMIT, _ROLLBACK = "BEGIN", "COMMIT", "ROLLBACK"


class Db:
    """One transaction on a pooled connection, opened by its first statement. See the module
    docstring; begin, commit and rollback belong to `medgrader.db.transactions`.

    The pool's connections are in autocommit mode and the transaction is spelled out (BEGIN,
    COMMIT, SAVEPOINT): in pipeline mode BEGIN is queued with the first statement and COMMIT
    with the last ones, and the pipeline's one Sync at the end fetches them all. (psycopg's own
    `transaction()` inside a pipeline syncs once more on the way out: a round trip per
    transaction that this saves.)
    """

    __slots__ = ("_connection", "_pipe", "_pipeline", "_pool", "_savepoints", "_stack")

    def __init__(self, pool: AsyncConnectionPool, *, pipeline: bool = True) -> None:
        self._pool = pool
        self._pipeline = pipeline
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._pipe: psycopg.AsyncPipeline | None = None
        self._stack: AsyncExitStack | None = None
        self._savepoints = 0

    @property
    def holds_connection(self) -> bool:
        """True while a transaction is open (a pooled connection is taken)."""
        return self._connection is not None

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """The connection of the open transaction (opening it if needed), for infrastructure
        that speaks psycopg itself (the job queue's defer query)."""
        if self._connection is None:
            stack = AsyncExitStack()
            try:
                connection = await stack.enter_async_context(self._pool.connection())
                if self._pipeline:
                    self._pipe = await stack.enter_async_context(connection.pipeline())
                await connection.execute(_BEGIN)  # in pipeline mode: queued, no round trip
            except BaseException:
                self._pipe = None
                await stack.aclose()
                raise
            self._connection, self._stack = connection, stack
        return self._connection

    async def _end(self, error: BaseException | None) -> None:
        """Commit (error None) or roll back the open transaction and give the connection back
        to the pool; the next statement opens a new transaction. Edges only."""
        stack, connection, pipe = self._stack, self._connection, self._pipe
        self._stack, self._connection, self._pipe, self._savepoints = None, None, None, 0
        if stack is None or connection is None:
            return
        if error is None:
            try:
                await connection.execute(_COMMIT)
            except BaseException as failed:
                await stack.__aexit__(type(failed), failed, failed.__traceback__)
                raise
            # Leaving the pipeline syncs: the queued statements and the COMMIT, one round trip
            # (their first error is raised here, and the server has rolled back).
            await stack.aclose()
            return
        try:
            await _abandon(connection, pipe)
            await stack.__aexit__(type(error), error, error.__traceback__)
        except Exception:
            # The rollback failed (the connection died): the server rolls the transaction
            # back anyway and the pool discards the connection. The first error is the one
            # that matters, and the caller raises it.
            log.warning("rollback failed", exc_info=True)

    async def execute(
        self, statement: Statement, params: Mapping[str, Any] | None = None
    ) -> Result:
        """Run the statement and fetch its rows, unless it is marked `no_rows`: then, in
        pipeline mode, it is only queued (see `no_rows`)."""
        compiled = _compiled(statement, params)
        values = _bound(compiled, params)
        connection = await self.connection()
        cursor = connection.cursor(row_factory=namedtuple_row)
        await cursor.execute(compiled.sql, values)  # type: ignore[arg-type]
        if not compiled.read_rows:
            return Result(None)
        try:
            rows = await cursor.fetchall()
        except psycopg.ProgrammingError:
            # A command without a result set (an UPDATE without RETURNING): only a count.
            result = cursor.pgresult
            if result is None or result.status != pq.ExecStatus.COMMAND_OK:
                raise
            return Result([], cursor.rowcount)
        return Result(rows, cursor.rowcount)

    async def scalar(self, statement: Statement, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.execute(statement, params)).scalar()

    async def stream(
        self, statement: Statement, params: Mapping[str, Any] | None = None, *, batch: int = 2000
    ) -> AsyncIterator[list[Any]]:
        """The rows in batches, from a server-side cursor: a result of any size never sits in
        memory. Only in a streaming transaction (`pipeline=False`)."""
        if self._pipeline:
            raise RuntimeError("stream() needs a transaction opened with pipeline=False")
        compiled = _compiled(statement, params)
        connection = await self.connection()
        async with connection.cursor(name="medgrader_stream", row_factory=namedtuple_row) as cur:
            await cur.execute(compiled.sql, _bound(compiled, params))  # type: ignore[arg-type]
            while rows := await cur.fetchmany(batch):
                yield rows

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: an error inside undoes only what ran inside, and the caller's
        transaction lives on (e.g. to turn a UNIQUE violation into a refusal)."""
        connection = await self.connection()
        self._savepoints += 1
        name = f"medgrader_savepoint_{self._savepoints}"
        await connection.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await _settle(self._pipe)
            await connection.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        await connection.execute(f"RELEASE SAVEPOINT {name}")


async def _settle(pipe: psycopg.AsyncPipeline | None) -> None:
    """After an error in pipeline mode the statements queued behind it are skipped until a
    Sync: send one (their errors are the first error's echo), so that the next statement runs."""
    if pipe is not None:
        with suppress(psycopg.Error):
            await pipe.sync()


async def _abandon(
    connection: psycopg.AsyncConnection[Any], pipe: psycopg.AsyncPipeline | None
) -> None:
    """Roll back, whatever state the transaction is in (a failed statement aborts it)."""
    await _settle(pipe)
    await connection.execute(_ROLLBACK)


def create_pool(libpq_url: str, *, min_size: int, max_size: int, name: str) -> AsyncConnectionPool:
    """The application's pool (opened by the caller).

    No `check` on checkout (it would cost every transaction a round trip): a connection that
    died is discarded when the failed request returns it, and that request answers 500 (which
    Stripe and the job queue retry). Reconnection after the database comes back is prompt
    (see medgrader.db.pool). A statement that hangs on a lock must not hold a worker forever.
    """
    from medgrader.db.pool import PromptReconnectPool

    return PromptReconnectPool(
        libpq_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # Autocommit: Db spells its transactions out (BEGIN ... COMMIT), see Db.
        kwargs={
            "autocommit": True,
            "options": "-c statement_timeout=30000 -c lock_timeout=10000",
        },
        name=name,
    )
