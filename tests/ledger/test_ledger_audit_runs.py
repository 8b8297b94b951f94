"""The periodic audit stores its result (the dashboard shows the last one: tests/web)."""

from __future__ import annotations

import psycopg

from medgrader.audit import runs as audit_runs
from medgrader.db.transactions import unit_of_work
from medgrader.runtime import BLUEPRINTS
from tests.support.accounts import Account
from tests.support.services import ServiceRunner


def test_the_audit_is_a_periodic_job() -> None:
    periodic = BLUEPRINTS["ledger"].periodic_registry.periodic_tasks.values()
    assert [p.task.name for p in periodic] == ["audit_ledger"]


def test_a_run_is_stored_with_its_findings(
    services: ServiceRunner, db: psycopg.Connection, student: Account
) -> None:
    clean = services.in_transaction(lambda session, ctx: audit_runs.audit_and_record(session))
    assert clean.findings == 0
    assert clean.details == []

    # Break one balance on purpose, inside a transaction that is rolled back afterwards.
    async def broken(session, ctx):  # type: ignore[no-untyped-def]
        from sqlalchemy import text

        await session.execute(
            text("UPDATE student_profiles SET credit_balance = credit_balance + 1"
                 " WHERE user_id = :id"), {"id": student.id},
        )  # fmt: skip
        return await audit_runs.audit_and_record(session)

    found = services.run(lambda ctx: _in_session(ctx, broken))
    assert found.findings >= 1
    assert any(student.id in line for line in found.details)
    latest = services.in_transaction(lambda session, ctx: audit_runs.latest(session))
    assert latest is not None
    assert latest.findings == 0  # the broken run was rolled back with its balance


async def _in_session(ctx, fn):  # type: ignore[no-untyped-def]
    """fn in a transaction that is rolled back afterwards."""

    class Undo(Exception):
        pass

    found = None
    try:
        async with unit_of_work(ctx.db_pool) as db:
            found = await fn(db, ctx)
            raise Undo
    except Undo:
        return found
