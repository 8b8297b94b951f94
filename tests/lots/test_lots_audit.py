"""Every lot audit check fires on the corruption it exists for, and `medgrader audit` runs
them. Each case corrupts data inside a transaction that is always rolled back."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from medgrader.audit.checks import CHECKS
from medgrader.lots.audit import LOT_CHECKS
from tests.credits.factory import make_student
from tests.ledger.test_ledger_audit_checks import _findings, _post, scratch
from tests.support.services import ServiceRunner

__all__ = ["scratch"]

Corrupt = Callable[[psycopg.Connection, str], None]


def _lot(conn: psycopg.Connection, student: str) -> str:
    row = conn.execute(
        "SELECT id::text FROM credit_lots WHERE student_id = %s ORDER BY seq DESC LIMIT 1",
        (student,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def remainder_moved_behind_the_ledger(conn: psycopg.Connection, student: str) -> None:
    conn.execute("UPDATE credit_lots SET remaining = remaining - 1 WHERE id = %s",
                 (_lot(conn, student),))  # fmt: skip


def reserved_without_a_hold(conn: psycopg.Connection, student: str) -> None:
    conn.execute("UPDATE credit_lots SET reserved = 1 WHERE id = %s", (_lot(conn, student),))


def hold_without_its_reservation(conn: psycopg.Connection, student: str) -> None:
    conn.execute(
        """INSERT INTO credit_holds (student_id, amount, reason, ttl_seconds, expires_at)
           VALUES (%s, 5, 'audit', 900, now() + interval '15 minutes')""",
        (student,),
    )


def debit_without_its_movements(conn: psycopg.Connection, student: str) -> None:
    _post(conn, student, -5, "USAGE", None)
    conn.execute(
        "DELETE FROM lot_movements WHERE entry_id = (SELECT id FROM credit_transactions"
        " WHERE student_id = %s ORDER BY seq DESC LIMIT 1)",
        (student,),
    )


def credit_without_its_lot(conn: psycopg.Connection, student: str) -> None:
    _post(conn, student, 5, "ADMIN_ADJUSTMENT", None)
    conn.execute("UPDATE credit_lots SET amount = amount + 1, remaining = remaining + 1"
                 " WHERE id = %s", (_lot(conn, student),))  # fmt: skip
    conn.execute("UPDATE student_profiles SET credit_balance = credit_balance + 1"
                 " WHERE user_id = %s", (student,))  # fmt: skip


def expiry_of_the_wrong_amount(conn: psycopg.Connection, student: str) -> None:
    lot = _lot(conn, student)
    conn.execute("UPDATE credit_lots SET expires_at = now() - interval '1 hour' WHERE id = %s",
                 (lot,))  # fmt: skip
    conn.execute("SELECT lots_settle(%s)", (student,))
    conn.execute("UPDATE credit_transactions SET amount = amount + 1 WHERE source_type = 'EXPIRY'"
                 " AND source_id = %s", (f"lot:{lot}",))  # fmt: skip


def expired_lot_left_unexpired(conn: psycopg.Connection, student: str) -> None:
    conn.execute("UPDATE credit_lots SET expires_at = now() - interval '1 hour' WHERE id = %s",
                 (_lot(conn, student),))  # fmt: skip


def value_moved_wrong(conn: psycopg.Connection, student: str) -> None:
    _post(conn, student, 3, "PURCHASE", None)  # 3 credits worth 30p
    _post(conn, student, -103, "USAGE", None)  # the welcome 100, then 3 paid: 30p
    conn.execute("UPDATE lot_movements SET value_minor = value_minor + 1 WHERE value_minor > 0"
                 " AND lot_id = %s", (_lot(conn, student),))  # fmt: skip


CASES: list[tuple[Corrupt, set[str]]] = [
    (
        remainder_moved_behind_the_ledger,
        {"balance_equals_lot_remainders", "lot_movements_match_lot"},
    ),
    (reserved_without_a_hold, {"lot_movements_match_lot"}),
    (hold_without_its_reservation, {"reservations_match_active_holds"}),
    (debit_without_its_movements, {"debit_allocations_match_entry", "lot_movements_match_lot"}),
    (credit_without_its_lot, {"credit_entry_has_its_lots", "balance_equals_ledger_sum"}),
    (
        expiry_of_the_wrong_amount,
        {
            "expiry_entries_match_lots",
            "debit_allocations_match_entry",
            "balance_after_chain",
            "balance_equals_ledger_sum",
        },
    ),
    (expired_lot_left_unexpired, {"expired_lot_has_nothing_free"}),
    (value_moved_wrong, {"paid_lot_value_identity", "purchase_matches_session"}),
]


def test_every_lot_check_has_a_case_and_runs_in_the_audit() -> None:
    assert set(LOT_CHECKS) <= set().union(*(fired for _, fired in CASES))
    assert set(LOT_CHECKS) <= set(CHECKS)


@pytest.mark.parametrize(("corrupt", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_lot_check_fires(
    services: ServiceRunner, scratch: psycopg.Connection, corrupt: Corrupt, fired: set[str]
) -> None:
    student = make_student(services).id
    assert _findings(scratch) == set(), "the database must be clean before the case"
    corrupt(scratch, student)
    assert _findings(scratch) == fired
    scratch.rollback()
    assert _findings(scratch) == set()
