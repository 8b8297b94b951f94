"""Expiry: from expiresAt on a lot's credits are not available, whether or not the job has
run; the job (and every posting) writes one EXPIRY entry per lot for exactly what was left,
exactly once (a UNIQUE index); credits a hold reserved do not expire under it, and what it
gives back to a lot expired meanwhile expires then, with an entry of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.holds.sweep import expire_due_holds
from medgrader.lots import service as lots_service
from tests.holds.support import act, new_hold
from tests.lots.support import expire_lot, expiries, grant, lots, spend
from tests.support.services import ServiceRunner


def sweep(services: ServiceRunner) -> None:
    services.in_transaction(lambda session, _: expire_due_holds(session))


def test_credits_past_their_expiry_cannot_be_spent_before_any_job(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    entry = grant(services, student.id, 10, expires_at=datetime.now(UTC) + timedelta(hours=1))
    lot = expire_lot(db, entry)
    assert spend(services, student.id, 1) is None
    # The refused spend settled the student first: the lot expired, once, for all it held.
    assert expiries(db, student.id) == [(f"lot:{lot}", 10)]
    sweep(services)
    sweep(services)
    assert expiries(db, student.id) == [(f"lot:{lot}", 10)]


def test_the_job_expires_each_lot_once_for_what_was_left(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    soon = datetime.now(UTC) + timedelta(hours=1)
    first = grant(services, student.id, 10, expires_at=soon)
    second = grant(services, student.id, 4, expires_at=soon, value_minor=40)
    assert spend(services, student.id, 3) is not None  # from the granted lot first
    lots_expired = [expire_lot(db, first), expire_lot(db, second)]
    sweep(services)
    sweep(services)
    assert sorted(expiries(db, student.id)) == sorted(
        [(f"lot:{lots_expired[0]}", 7), (f"lot:{lots_expired[1]}", 4)]
    )
    assert all(lot["remaining"] == 0 for lot in lots(db, student.id))
    # A second EXPIRY for the same lot is refused by the database itself.
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            """INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after,
                   source_type, source_id, description)
               VALUES (%s, 'DEBIT', 1, 0, 'EXPIRY', %s, 'again')""",
            (student.id, f"lot:{lots_expired[0]}"),
        )


def test_a_hold_keeps_its_credits_past_their_lots_expiry(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    entry = grant(services, student.id, 10, expires_at=datetime.now(UTC) + timedelta(hours=1))
    hold = new_hold(client, student, 6)
    lot = expire_lot(db, entry)
    sweep(services)
    assert expiries(db, student.id) == [(f"lot:{lot}", 4)]  # the 4 not reserved
    captured = act(client, student, hold["holdId"], "capture", {"amount": 2})
    assert captured.status_code == 201, captured.text  # never cut short by the expiry
    # The 4 the capture did not use came back to the expired lot: they expire now, once.
    assert expiries(db, student.id) == [
        (f"lot:{lot}", 4),
        (f"lot:{lot}:hold:{hold['holdId']}", 4),
    ]
    assert lots(db, student.id)[-1]["remaining"] == 0


def test_a_hold_that_expires_gives_back_to_an_expired_lot(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    entry = grant(services, student.id, 5, expires_at=datetime.now(UTC) + timedelta(hours=1))
    hold = new_hold(client, student, 5)
    lot = expire_lot(db, entry)
    db.execute(
        "UPDATE credit_holds SET expires_at = now() - interval '1 second',"
        " created_at = now() - interval '1 minute' WHERE id = %s",
        (hold["holdId"],),
    )
    sweep(services)
    # The hold and the lot settle together: the hold gives back first, and the lot's expiry
    # (not yet written down) is written once for all it holds by the lots' step, which is
    # where a subscription period's lot rolls over (a hold expiring just before must not cost
    # the student that rollover).
    assert expiries(db, student.id) == [(f"lot:{lot}", 5)]
    row = db.execute("SELECT status FROM credit_holds WHERE id = %s", (hold["holdId"],)).fetchone()
    assert row is not None
    assert row[0] == "EXPIRED"


def test_the_liability_past_an_expiry_counts_what_a_live_hold_reserved_then(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    def outstanding(at: datetime) -> tuple[int, int]:
        row = services.in_transaction(lambda session, _: lots_service.liability(session, at))
        return row.paid_credits_outstanding, row.deferred_revenue

    student = new_student(balance=0)  # (its welcome lot all taken: the only paid lot is ours)
    entry = grant(
        services, student.id, 10, value_minor=100, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    hold = new_hold(client, student, 6)
    lot = expire_lot(db, entry, ago="10 minutes")
    made_earlier = "UPDATE credit_lots SET created_at = now() - interval '1 hour' WHERE id = %s"
    db.execute(made_earlier, (lot,))
    between = datetime.now(UTC) - timedelta(minutes=5)  # after the expiry, before any job
    # The 4 free credits had expired then, the 6 reserved had not: 6 outstanding, worth
    # 100 - floor(100 * 4 / 10).
    assert outstanding(between) == (6, 60)
    sweep(services)  # the lot's EXPIRY of 4 is written now, after that instant
    assert outstanding(between) == (6, 60)
    captured = act(client, student, hold["holdId"], "capture", {"amount": 2})
    assert captured.status_code == 201, captured.text  # 2 used, 4 back and expired, now
    assert outstanding(between) == (6, 60)
    assert outstanding(datetime.now(UTC) + timedelta(seconds=1)) == (0, 0)
