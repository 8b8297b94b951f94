"""Every holds audit check fires on the corruption it exists for, and `medgrader audit` runs
them. Each case corrupts data inside a transaction that is always rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from medgrader.audit.checks import CHECKS
from medgrader.holds.audit import HOLD_CHECKS
from tests.credits.factory import make_student
from tests.ledger.test_ledger_audit_checks import _findings, _post, scratch
from tests.support.services import ServiceRunner

__all__ = ["scratch"]  # the rolled-back connection of the ledger's audit cases

Corrupt = Callable[[psycopg.Connection, str], None]


def _hold(
    conn: psycopg.Connection,
    student: str,
    *,
    status: str = "ACTIVE",
    amount: int = 5,
    captured: int | None = None,
    closed: str | None = None,  # an SQL expression for closed_at
    reserve: bool = True,
) -> str:
    closed_at = closed or ("NULL" if status == "ACTIVE" else "now()")
    row = conn.execute(
        f"""
        INSERT INTO credit_holds (student_id, status, amount, captured_amount, reason,
                                  ttl_seconds, expires_at, closed_at)
        VALUES (%s, %s, %s, %s, 'audit test', 900, now() + interval '15 minutes', {closed_at})
        RETURNING id::text
        """,
        (student, status, amount, captured),
    ).fetchone()
    assert row is not None
    if status == "ACTIVE" and reserve:  # its credits reserved in lots, as the holds do
        conn.execute("SELECT lots_sync_hold(%s)", (row[0],))
    return str(row[0])


def _usage(conn: psycopg.Connection, student: str, amount: int, source_id: str) -> None:
    _post(conn, student, -amount, "USAGE", source_id)


def _a_correct_capture(conn: psycopg.Connection, student: str) -> None:
    hold = _hold(conn, student, status="CAPTURED", amount=5, captured=3)
    _usage(conn, student, 3, f"hold:{hold}")


def captured_without_its_entry(conn: psycopg.Connection, student: str) -> None:
    _hold(conn, student, status="CAPTURED", captured=3)


def captured_with_the_wrong_amount(conn: psycopg.Connection, student: str) -> None:
    hold = _hold(conn, student, status="CAPTURED", captured=3)
    _usage(conn, student, 4, f"hold:{hold}")


def charged_though_released(conn: psycopg.Connection, student: str) -> None:
    hold = _hold(conn, student, status="RELEASED")
    _usage(conn, student, 2, f"hold:{hold}")


def charged_for_no_hold(conn: psycopg.Connection, student: str) -> None:
    _usage(conn, student, 2, f"hold:{uuid.uuid4()}")


def captured_after_its_expiry(conn: psycopg.Connection, student: str) -> None:
    hold = _hold(conn, student, status="CAPTURED", captured=3, closed="now() + interval '1 hour'")
    _usage(conn, student, 3, f"hold:{hold}")


def expired_before_its_time(conn: psycopg.Connection, student: str) -> None:
    _hold(conn, student, status="EXPIRED")


def held_more_than_the_balance(conn: psycopg.Connection, student: str) -> None:
    # The student has the 100 welcome credits: no lot can reserve 101 for it either.
    _hold(conn, student, amount=101, reserve=False)


CASES: list[tuple[Corrupt, set[str]]] = [
    (captured_without_its_entry, {"hold_captured_once"}),
    (captured_with_the_wrong_amount, {"hold_captured_once"}),
    (charged_though_released, {"hold_captured_once"}),
    (charged_for_no_hold, {"capture_entry_has_hold"}),
    (captured_after_its_expiry, {"hold_closed_within_its_life"}),
    (expired_before_its_time, {"hold_closed_within_its_life"}),
    (
        held_more_than_the_balance,
        {"available_negative_only_after_clawback", "reservations_match_active_holds"},
    ),
]


def test_every_hold_check_has_a_case_and_runs_in_the_audit() -> None:
    assert set(HOLD_CHECKS) <= set().union(*(fired for _, fired in CASES))
    assert set(HOLD_CHECKS) <= set(CHECKS)  # `medgrader audit` runs them


@pytest.mark.parametrize(("corrupt", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_hold_check_fires(
    services: ServiceRunner, scratch: psycopg.Connection, corrupt: Corrupt, fired: set[str]
) -> None:
    student = make_student(services).id
    assert _findings(scratch) == set(), "the database must be clean before the case"
    _a_correct_capture(scratch, student)  # a correct capture alongside raises nothing
    _hold(scratch, student, amount=90)  # nor holding all that is left
    assert _findings(scratch) == set()
    corrupt(scratch, student)
    assert _findings(scratch) == fired
    scratch.rollback()
    assert _findings(scratch) == set()


def test_a_clawback_may_leave_the_available_balance_negative(
    services: ServiceRunner, scratch: psycopg.Connection
) -> None:
    student = make_student(services).id
    _hold(scratch, student, amount=60)
    _post(scratch, student, -50, "REFUND", None)  # a clawback: 50 left, 60 of them held
    assert _findings(scratch) == set()
