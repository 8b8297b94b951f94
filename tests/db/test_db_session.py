"""The Db session: statements marked no_rows are queued, every other one is waited for, and
asking a queued statement for rows is an error rather than an empty answer; and the two ways
to hold a transaction (unit_of_work, external_call) with savepoints and streaming."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text

from medgrader.checkout import repository as checkout_sql
from medgrader.core.context import AppContext
from medgrader.core.errors import Conflict
from medgrader.db.session import Db, Result, UnreadResult, _compiled_text, no_rows
from medgrader.db.transactions import external_call, unit_of_work
from medgrader.holds import repository as holds_sql
from medgrader.idempotency import store as idempotency_sql
from medgrader.ledger import service as ledger
from medgrader.notifications import receipts as receipt_sql
from medgrader.payments import repository as payment_sql
from medgrader.webhooks import repository as inbox_sql
from tests.support.services import ServiceRunner


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        (inbox_sql.CLAIM, True),
        (inbox_sql._FAILED, False),
        (inbox_sql.PROCESSED, False),
        (checkout_sql.LOCK_BY_STRIPE_ID, True),
        (checkout_sql._MARK, True),
        (checkout_sql._INSERT, True),
        (payment_sql.RECORD, False),
        (receipt_sql._RECEIPT, True),
        (receipt_sql._RECEIPT_SENT, False),
        (ledger.CREDIT_SQL, True),
        (ledger.COVERED_DEBIT_SQL, True),
        (ledger.LOCK_BALANCE, False),
        (holds_sql.CREATE, True),
        (holds_sql.CAPTURE, True),
        (idempotency_sql.CLAIM, True),
        (idempotency_sql._PRIOR, True),
        (idempotency_sql.RECORD, False),
    ],
)
def test_only_marked_statements_skip_their_rows(statement: object, read: bool) -> None:
    assert _compiled_text(statement).read_rows is read  # type: ignore[arg-type]


def test_an_unmarked_statement_is_read_whatever_its_text_says() -> None:
    # A comment with a quote or a bracket once fooled a parser; there is no parser now.
    tricky = text("-- the student's row (\nUPDATE t SET a = 1 WHERE b = 2 -- RETURNING")
    assert _compiled_text(tricky).read_rows is True
    assert _compiled_text(no_rows(tricky)).read_rows is False


def test_rows_of_an_unread_statement_are_an_error_not_an_empty_result() -> None:
    unread = Result(None)
    for read in (unread.first, unread.one_or_none, unread.all, unread.scalar):
        with pytest.raises(UnreadResult):
            read()
    assert Result([]).first() is None


# -- transactions at the edges, on the real pool ----------------------------------------------

_REMEMBER = text("INSERT INTO webhook_events (id, type, payload) VALUES (:id, 'test.db', '{}')")
_STORED = "SELECT count(*) FROM webhook_events WHERE id = ANY(%s)"


def _ids(n: int) -> list[str]:
    return [f"evt_db_{uuid.uuid4().hex}" for _ in range(n)]


def _stored(db: psycopg.Connection, ids: list[str]) -> int:
    row = db.execute(_STORED, (ids,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("pipeline", [True, False], ids=["pipeline", "plain"])
def test_a_savepoint_undoes_only_what_ran_inside(
    services: ServiceRunner, db: psycopg.Connection, pipeline: bool
) -> None:
    first, second = _ids(2)

    async def clash(session: Db) -> None:
        async with session.savepoint():
            await session.execute(_REMEMBER, {"id": second})
            await session.execute(text(f"{_REMEMBER.text} RETURNING id"), {"id": first})

    async def run(ctx: AppContext) -> None:
        async with unit_of_work(ctx.db_pool, pipeline=pipeline) as session:
            await session.execute(_REMEMBER, {"id": first})
            with pytest.raises(psycopg.errors.UniqueViolation):
                await clash(session)
            await session.scalar(text("SELECT 1"))  # the transaction lives on

    services.run(run)
    assert (_stored(db, [first]), _stored(db, [second])) == (1, 0)


def test_an_error_in_a_queued_statement_rolls_the_unit_back_at_its_commit(
    services: ServiceRunner, db: psycopg.Connection
) -> None:
    [event] = _ids(1)

    async def failing(ctx: AppContext) -> None:
        async with unit_of_work(ctx.db_pool) as session:
            await session.execute(no_rows(_REMEMBER), {"id": event})
            await session.execute(no_rows(text("SELECT 1 / 0")))

    async def run(ctx: AppContext) -> None:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await failing(ctx)
        async with unit_of_work(ctx.db_pool) as session:  # the pool's connection is clean
            assert await session.scalar(text("SELECT 2")) == 2

    services.run(run)
    assert _stored(db, [event]) == 0


def test_a_refusal_rolls_back_unless_it_keeps_its_transaction(
    services: ServiceRunner, db: psycopg.Connection
) -> None:
    rolled_back, kept = _ids(2)

    async def refused(ctx: AppContext, event: str, keep: bool) -> None:
        refusal = Conflict("refused")
        refusal.keep_transaction = keep
        async with unit_of_work(ctx.db_pool) as session:
            await session.execute(no_rows(_REMEMBER), {"id": event})
            raise refusal

    async def run(ctx: AppContext) -> None:
        for event, keep in ((rolled_back, False), (kept, True)):
            with pytest.raises(Conflict):
                await refused(ctx, event, keep)

    services.run(run)
    assert (_stored(db, [rolled_back]), _stored(db, [kept])) == (0, 1)


def test_external_call_commits_the_first_transaction_and_holds_nothing(
    services: ServiceRunner, db: psycopg.Connection
) -> None:
    before, after = _ids(2)

    seen: list[bool] = []

    async def failing(ctx: AppContext) -> None:
        async with unit_of_work(ctx.db_pool) as session:
            await session.execute(no_rows(_REMEMBER), {"id": before})
            async with external_call(session):
                seen.append(session.holds_connection)
            await session.execute(no_rows(_REMEMBER), {"id": after})
            seen.append(session.holds_connection)
            raise RuntimeError("the second transaction fails")

    async def run(ctx: AppContext) -> tuple[bool, bool]:
        with pytest.raises(RuntimeError):
            await failing(ctx)
        return seen[0], seen[1]

    held, reopened = services.run(run)
    assert (held, reopened) == (False, True)
    assert (_stored(db, [before]), _stored(db, [after])) == (1, 0)


def test_a_streaming_unit_reads_in_batches(services: ServiceRunner) -> None:
    async def run(ctx: AppContext) -> list[int]:
        async with unit_of_work(ctx.db_pool, pipeline=False) as session:
            statement = text("SELECT n FROM generate_series(1, :n) AS n")
            return [len(b) async for b in session.stream(statement, {"n": 25}, batch=10)]

    assert services.run(run) == [10, 10, 5]
