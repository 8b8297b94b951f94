"""A period's lot rolls over exactly once however the expiry job and the student's own postings
race (all of them settle under the student's balance row lock, lots_settle), and a refund of
the period's payment reaches the credits that rolled over out of its lot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from medgrader.holds.sweep import sweep_due
from tests.checkout.support import balance
from tests.lots.support import grant, lots, spend
from tests.subscriptions.rollover_support import entries, expire, period_lot, rollover_lots
from tests.subscriptions.support import rows
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
def connect(database: Database) -> Iterator[Callable[[], psycopg.Connection]]:
    opened: list[psycopg.Connection] = []

    def open_one() -> psycopg.Connection:
        opened.append(psycopg.connect(to_libpq_url(database.url)))
        return opened[-1]

    yield open_one
    for connection in opened:
        connection.close()


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    return thread, result


def _blocked(thread: threading.Thread) -> bool:
    time.sleep(0.3)
    return thread.is_alive()


def test_a_settle_waiting_on_the_sweep_finds_the_lot_rolled_over(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any,
    connect: Callable[[], psycopg.Connection],
) -> None:  # fmt: skip
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=40, price=400, cap=15)
    expire(db, period.lot_id)
    first, second, third = connect(), connect(), connect()
    swept = first.execute("SELECT students FROM lots_sweep(100)").fetchone()
    assert swept == (1,)  # rolled over, not committed, the balance row still locked

    def settle() -> None:
        second.execute("SELECT lots_settle(%s)", (student.id,))
        second.commit()

    waiting, _ = _in_thread(settle)
    assert _blocked(waiting)  # a posting's settle waits for the lock
    # Another sweeper skips the locked student rather than wait.
    assert third.execute("SELECT students FROM lots_sweep(100)").fetchone() == (0,)
    third.commit()
    first.commit()
    waiting.join(10)
    assert not waiting.is_alive()
    assert entries(db, student.id) == [
        ("DEBIT", "ROLLOVER", 15, f"lot:{period.lot_id}"),
        ("CREDIT", "ROLLOVER", 15, f"lot:{period.lot_id}"),
        ("DEBIT", "EXPIRY", 25, f"lot:{period.lot_id}"),
    ]
    assert len(rollover_lots(db, student.id)) == 1
    assert balance(db, student.id) == 15


def test_a_spend_racing_the_sweep_rolls_over_once_and_spends_the_rolled_credits(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any,
    connect: Callable[[], psycopg.Connection],
) -> None:  # fmt: skip
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=40, price=400, cap=15)
    expire(db, period.lot_id)
    first = connect()
    first.execute("SELECT lots_settle(%s)", (student.id,))  # as a posting's first statement
    spending, result = _in_thread(lambda: spend(services, student.id, 15))
    sweeping, swept = _in_thread(lambda: services.in_transaction(lambda s, _: sweep_due(s)))
    assert _blocked(spending)
    sweeping.join(10)
    assert swept[0].students == 0  # the job skipped the student the posting holds
    first.commit()
    spending.join(10)
    assert len(result) == 1
    assert result[0] is not None  # the 15 that rolled over were spent
    assert [e[:3] for e in entries(db, student.id)] == [
        ("DEBIT", "ROLLOVER", 15), ("CREDIT", "ROLLOVER", 15), ("DEBIT", "EXPIRY", 25)]  # fmt: skip
    [new] = rollover_lots(db, student.id)
    assert new["remaining"] == 0
    assert balance(db, student.id) == 0


def test_a_refund_of_the_period_takes_back_what_rolled_over_first(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=10, price=1000, cap=6)
    expire(db, period.lot_id)
    assert spend(services, student.id, 1) is not None  # settles: 6 rolled over, 1 spent
    # Another paid lot, that the spend order would take first (it expires sooner).
    grant(services, student.id, 20, expires_at=datetime.now(UTC) + timedelta(days=1),
          value_minor=200)  # fmt: skip
    other = str(lots(db, student.id)[-1]["id"])
    [rolled] = rollover_lots(db, student.id)
    [payment] = rows(db, "SELECT payment_id::text AS id FROM subscription_invoices"
                         " WHERE stripe_invoice_id = %s", period.invoice)  # fmt: skip
    with db.transaction(force_rollback=True):
        db.execute(
            """SELECT ledger_post(%s, 'DEBIT', 8, -8, true, 'REFUND', %s, 'refund', '{}'::jsonb,
                                  NULL, NULL, NULL, NULL, NULL, 50, NULL, NULL, NULL)""",
            (student.id, payment["id"]),
        )
        taken = {
            r["lot_id"]: r["credits"]
            for r in rows(
                db,
                """SELECT m.lot_id::text, m.credits FROM lot_movements m
                     JOIN credit_transactions t ON t.id = m.entry_id
                    WHERE t.source_type = 'REFUND' AND t.student_id = %s""",
                student.id,
            )
        }
        # The period's own lot has nothing left; its rolled-over 5 go first, then the spend order.
        assert taken == {str(rolled["id"]): 5, other: 3}
