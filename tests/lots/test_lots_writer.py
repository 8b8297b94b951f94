"""The one writer (ledger_post): every credit is a lot, every debit takes its credits from lots
in the one spend order, holds reserve in lots, and value leaves a paid lot by the floor rule.
The fast tier's audit (lot checks included) runs after every test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.holds.support import act, new_hold
from tests.lots.support import grant, lots, movements, spend
from tests.support.accounts import Account
from tests.support.services import ServiceRunner


def _lot_of(db: psycopg.Connection, student: Account, entry: Any) -> str:
    row = db.execute("SELECT id FROM credit_lots WHERE entry_id = %s", (str(entry),)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_debit_follows_the_one_spend_order(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student()  # the welcome bonus: 100 granted credits expiring in 90 days
    (welcome,) = lots(db, student.id)
    assert (welcome["kind"], welcome["source"], welcome["amount"]) == (
        "GRANTED",
        "WELCOME_BONUS",
        100,
    )
    assert welcome["expires_at"] is not None
    soon = datetime.now(UTC) + timedelta(days=10)
    a = grant(services, student.id, 10)  # never expires, granted
    b = grant(services, student.id, 20, expires_at=soon)
    c = grant(services, student.id, 5, priority=10)  # lowest priority number: first
    d = grant(services, student.id, 7, value_minor=70)  # never expires, paid: last
    e = grant(services, student.id, 3, expires_at=soon, value_minor=30)  # paid, as soon as b
    spent = spend(services, student.id, 130)
    assert spent is not None
    order = [(lot, credits) for lot, credits, _ in movements(db, spent)]
    assert order == [
        (_lot_of(db, student, c), 5),
        (_lot_of(db, student, b), 20),  # the soonest expiry, granted before paid
        (_lot_of(db, student, e), 3),
        (str(welcome["id"]), 100),
        (_lot_of(db, student, a), 2),  # never-expiring last, granted before paid
    ]
    remaining = {str(lot["id"]): lot["remaining"] for lot in lots(db, student.id)}
    assert remaining[_lot_of(db, student, a)] == 8
    assert remaining[_lot_of(db, student, d)] == 7


def test_value_leaves_a_paid_lot_by_the_floor_rule(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    grant(services, student.id, 3, value_minor=1000)
    values = []
    for _ in range(3):
        spent = spend(services, student.id, 1)
        assert spent is not None
        values.extend(value for _, _, value in movements(db, spent))
    assert values == [333, 333, 334]  # floor(1000*n/3) - floor(1000*(n-1)/3): exactly 1000
    assert spend(services, student.id, 1) is None  # nothing left


def test_a_hold_reserves_in_lots_and_its_capture_takes_them(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    x = grant(services, student.id, 10, expires_at=datetime.now(UTC) + timedelta(days=1))
    y = grant(services, student.id, 10)
    hold = new_hold(client, student, 15)
    reserved = {str(lot["id"]): lot["reserved"] for lot in lots(db, student.id)}
    assert reserved[_lot_of(db, student, x)] == 10
    assert reserved[_lot_of(db, student, y)] == 5
    assert spend(services, student.id, 6) is None  # 5 free
    spent = spend(services, student.id, 5)
    assert spent is not None
    assert [(lot, n) for lot, n, _ in movements(db, spent)] == [(_lot_of(db, student, y), 5)]

    captured = act(client, student, hold["holdId"], "capture", {"amount": 12})
    assert captured.status_code == 201, captured.text
    taken = movements(db, captured.json()["transactionId"])
    assert [(lot, n) for lot, n, _ in taken] == [
        (_lot_of(db, student, x), 10),
        (_lot_of(db, student, y), 2),
    ]
    after = {str(lot["id"]): (lot["remaining"], lot["reserved"]) for lot in lots(db, student.id)}
    assert after[_lot_of(db, student, x)] == (0, 0)
    assert after[_lot_of(db, student, y)] == (3, 0)  # the 3 not captured came back


def test_a_release_gives_the_credits_back_to_their_lots(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    grant(services, student.id, 8)
    hold = new_hold(client, student, 8)
    assert spend(services, student.id, 1) is None
    released = act(client, student, hold["holdId"], "release")
    assert released.status_code == 200, released.text
    ((remaining, reserved),) = [
        (lot["remaining"], lot["reserved"]) for lot in lots(db, student.id)[1:]
    ]
    assert (remaining, reserved) == (8, 0)
    assert spend(services, student.id, 8) is not None
