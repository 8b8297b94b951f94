"""Each of automatic top-up's audit checks fires on the corruption it exists for (inside a
transaction that is always rolled back), and a consistent top-up raises nothing."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from medgrader.topups.audit import TOP_UP_CHECKS
from tests.credits.factory import make_student
from tests.ledger.test_ledger_audit_checks import _findings, _post, scratch
from tests.support.services import ServiceRunner

Corrupt = Callable[[psycopg.Connection, str, str], None]
__all__ = ["scratch"]  # the fixture, shared with the ledger's audit cases


def _attempt(conn: psycopg.Connection, student: str, status: str = "SUCCEEDED") -> str:
    row = conn.execute(
        """
        WITH pkg AS (
            INSERT INTO credit_packages (name, credits, price_pence)
            VALUES ('audit top-up ' || gen_random_uuid(), 100, 1000) RETURNING id, name
        )
        INSERT INTO auto_top_up_attempts (student_id, package_id, package_name, credits,
                                          amount_pence, currency, payment_method_id, status,
                                          stripe_payment_intent_id, finished_at)
        SELECT %s, id, name, 100, 1000, 'GBP', 'pm_audit', %s,
               'pi_audit_' || gen_random_uuid(), now()
          FROM pkg RETURNING id::text
        """,
        (student, status),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _entry(conn: psycopg.Connection, student: str, attempt: str, credits: int = 100) -> None:
    _post(conn, student, credits, "TOP_UP", attempt)


def _payment(conn: psycopg.Connection, student: str, attempt: str, amount: int = 1000) -> None:
    conn.execute(
        """
        INSERT INTO payments (student_id, top_up_attempt_id, stripe_payment_intent_id,
                              amount_pence, currency, credits, package_name, paid_at)
        SELECT %s, id, stripe_payment_intent_id, %s, 'GBP', credits, package_name, now()
          FROM auto_top_up_attempts WHERE id = %s
        """,
        (student, amount, attempt),
    )


def _top_up(conn: psycopg.Connection, student: str) -> str:
    attempt = _attempt(conn, student)
    _entry(conn, student, attempt)
    _payment(conn, student, attempt)
    return attempt


def succeeded_without_payment(conn: psycopg.Connection, student: str, _: str) -> None:
    _entry(conn, student, _attempt(conn, student))


def entry_without_attempt(conn: psycopg.Connection, student: str, _: str) -> None:
    _entry(conn, student, "00000000-0000-0000-0000-000000000000")


def entry_of_the_wrong_size(conn: psycopg.Connection, student: str, _: str) -> None:
    attempt = _attempt(conn, student)
    _entry(conn, student, attempt, credits=101)
    _payment(conn, student, attempt)


def payment_of_a_failed_attempt(conn: psycopg.Connection, student: str, _: str) -> None:
    _payment(conn, student, _attempt(conn, student, status="FAILED"))


def payment_of_the_wrong_amount(conn: psycopg.Connection, student: str, good: str) -> None:
    conn.execute("UPDATE payments SET amount_pence = 999 WHERE top_up_attempt_id = %s", (good,))


CASES: list[tuple[Corrupt, set[str]]] = [
    (succeeded_without_payment, {"succeeded_top_up_has_one_payment_and_entry"}),
    (entry_without_attempt, {"top_up_entry_matches_attempt"}),
    (entry_of_the_wrong_size, {"top_up_entry_matches_attempt"}),
    (payment_of_a_failed_attempt, {"top_up_payment_matches_attempt"}),
    (payment_of_the_wrong_amount, {"top_up_payment_matches_attempt"}),
]


def test_every_top_up_check_has_a_case() -> None:
    assert set(TOP_UP_CHECKS) == set().union(*(fired for _, fired in CASES))


@pytest.mark.parametrize(("corrupt", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_check_fires(
    services: ServiceRunner, scratch: psycopg.Connection, corrupt: Corrupt, fired: set[str]
) -> None:
    student = str(make_student(services).id)
    assert _findings(scratch) == set()
    good = _top_up(scratch, student)  # a consistent top-up alongside raises nothing
    assert _findings(scratch) == set()
    corrupt(scratch, student, good)
    assert _findings(scratch) == fired
