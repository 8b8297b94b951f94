"""Migration 0021 made the spends' lot work faster without changing what it does: spends
across lots (the first lot covering it, several lots, a paid lot's value leaving in odd
shares), a negative adjustment, a clawback into debt that the next credits pay, a lot
expiring at a settle and the holds' scenario of 0020 run through 0021's functions and then,
in the same rolled-back transaction, through the text 0021's downgrade restores; every lot,
movement, reservation, debt and ledger entry comes out the same, ids aside."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.credits.factory import make_student
from tests.ledger.test_ledger_audit_checks import scratch
from tests.lots.support import load_migration
from tests.lots.test_lots_holds_0020 import _post, _scenario, _state
from tests.support.services import ServiceRunner

__all__ = ["scratch"]


def _spends(conn: psycopg.Connection, student: str) -> dict[str, Any]:
    conn.execute("SELECT lots_settle(%s)", (student,))  # nothing due: the shortcut
    _post(conn, student, 10, "ADMIN_ADJUSTMENT", expires="2999-01-01T00:00:00Z")  # A
    _post(conn, student, 7, "ADMIN_ADJUSTMENT", value=1000)  # B: paid, 1000p for 7
    _post(conn, student, 5, "ADMIN_ADJUSTMENT", priority=10)  # C: first in the spend order
    _post(conn, student, 4, "ADMIN_ADJUSTMENT", expires="2998-01-01T00:00:00Z")  # D
    _post(conn, student, -3, "USAGE")  # C covers it
    _post(conn, student, -9, "USAGE")  # C's 2, D's 4, A's 3
    _post(conn, student, -8, "USAGE")  # A's 7, B's 1 (value out: floor shares)
    _post(conn, student, -2, "ADMIN_ADJUSTMENT")  # B: an ADJUSTMENT movement
    _post(conn, student, -3, "USAGE")  # B again
    _post(conn, student, -6, "REFUND", source_id=str(uuid.uuid4()))  # B's last 1, a debt of 5
    _post(conn, student, 8, "ADMIN_ADJUSTMENT", expires="2997-01-01T00:00:00Z")  # E pays it
    conn.execute(  # E past its expiry: the next settle expires what is left (3)
        "UPDATE credit_lots SET expires_at = now() WHERE student_id = %s"
        " AND expires_at = '2997-01-01T00:00:00Z'",
        (student,),
    )
    conn.execute("SELECT lots_settle(%s)", (student,))
    _post(conn, student, 2, "ADMIN_ADJUSTMENT")  # F
    _post(conn, student, -2, "USAGE")  # F, not the expired E
    return _state(conn, student, {})


def _both(conn: psycopg.Connection, run: Any) -> tuple[Any, Any]:
    conn.execute("SAVEPOINT before_0021_run")
    faster = run()
    conn.execute("ROLLBACK TO SAVEPOINT before_0021_run")
    migration = load_migration("0021_spend_speed.py")
    conn.execute(f"DROP FUNCTION {migration.APPLY}")  # (rolled back at the end)
    conn.execute(migration.previous_definitions())
    return faster, run()


def test_spends_do_the_same_lot_work_through_0021_and_before(
    services: ServiceRunner, scratch: psycopg.Connection
) -> None:
    student = make_student(services, balance=0).id
    faster, before = _both(scratch, lambda: _spends(scratch, student))

    assert faster == before
    kinds = [kind for *_, kind, _, _ in faster["movements"]]
    assert {"USE", "ADJUSTMENT", "CLAWBACK", "EXPIRY"} <= set(kinds)
    assert faster["debts"] == [(5, 0)]
    # The paid lot's value left in shares that add up to its value (the floor rule).
    paid = [value for _, _, _, _, value in faster["movements"] if value is not None]
    assert sum(paid) == 1000
    assert len(paid) == 4
    assert faster["audit"] == set()


@pytest.mark.parametrize("capture", [9, 0], ids=["capture", "release"])
def test_the_holds_scenario_is_the_same_through_0021_and_before(
    services: ServiceRunner, scratch: psycopg.Connection, capture: int
) -> None:
    student = make_student(services, balance=0).id
    faster, before = _both(scratch, lambda: _scenario(scratch, student, capture))

    assert faster == before
    assert any(kind == "CLAWBACK" for *_, kind, _, _ in faster["movements"])
    assert faster["audit"] == set()
