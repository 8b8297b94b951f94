"""GET /api/credits/balance against the lots: paid + granted = balance whenever it is zero or
more, a clawback's debt beside credits a live hold reserves included (the debt is charged
against the lots in the spend order, as it is paid when the hold gives them back), and in the
minute between a lot's expiresAt and the job every figure already leaves its credits out (the
endpoint settles the student first: the EXPIRY entry is written, the balance is the ledger sum)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.checkout.support import balance as ledger_balance
from tests.holds.support import act, expire_now, new_hold
from tests.lots.support import clawback, debt, expire_lot, expiries, grant, lots
from tests.support.accounts import Account
from tests.support.services import ServiceRunner


def shown(client: httpx.Client, student: Account) -> dict[str, Any]:
    response = client.get("/api/credits/balance", headers=student.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def figures(client: httpx.Client, student: Account) -> tuple[int, int, int, int, int]:
    """(balance, held, available, paid, granted)."""
    body = shown(client, student)
    return (body["balance"], body["held"], body["available"], body["paid"], body["granted"])


def held_debt_student(
    services: ServiceRunner, client: httpx.Client, new_student: Any
) -> tuple[Account, str]:
    """30 granted credits (expiring in 10 days: first in the spend order) and 20 paid (never),
    all reserved by a hold of 50, then a clawback of 35: no free credit, so all 35 are owed."""
    student = new_student(balance=0)
    grant(services, student.id, 30, expires_at=datetime.now(UTC) + timedelta(days=10))
    grant(services, student.id, 20, value_minor=200)
    hold = new_hold(client, student, 50)
    clawback(services, student.id, 35)
    return student, str(hold["holdId"])


def test_a_debt_beside_held_credits_is_charged_in_the_spend_order_until_a_release_pays_it(
    services: ServiceRunner, client: httpx.Client, db: psycopg.Connection, new_student: Any,
    invariants: None,
) -> None:  # fmt: skip
    student, hold = held_debt_student(services, client, new_student)
    assert debt(db, student.id) == 35
    assert ledger_balance(db, student.id) == 15
    # The lots still hold 50 (reserved); the 35 owed come off the granted 30 first (the
    # spend order), then 5 of the paid: what the release below will do.
    assert figures(client, student) == (15, 50, -35, 15, 0)
    released = act(client, student, hold, "release")
    assert released.status_code == 200, released.text
    assert debt(db, student.id) == 0
    assert [(lot["kind"], lot["remaining"]) for lot in lots(db, student.id)[1:]] == [
        ("GRANTED", 0),
        ("PAID", 15),
    ]
    assert figures(client, student) == (15, 0, 15, 15, 0)


def test_a_capture_beside_a_debt_then_a_debt_below_zero(
    services: ServiceRunner, client: httpx.Client, db: psycopg.Connection, new_student: Any,
    invariants: None,
) -> None:  # fmt: skip
    student, hold = held_debt_student(services, client, new_student)
    captured = act(client, student, hold, "capture", {"amount": 10})
    assert captured.status_code == 201, captured.text
    # The capture used 10 granted; the 40 it gave back (20 granted, 20 paid) paid the 35 owed
    # in the spend order: 5 paid credits are left.
    assert debt(db, student.id) == 0
    assert figures(client, student) == (5, 0, 5, 5, 0)
    clawback(services, student.id, 12)  # takes the 5, owes 7: below zero, no kind holds anything
    assert debt(db, student.id) == 7
    assert figures(client, student) == (-7, 0, -7, 0, 0)
    grant(services, student.id, 8)  # the next credits pay the 7 first
    assert figures(client, student) == (1, 0, 1, 0, 1)


def test_the_balance_leaves_out_expired_credits_before_any_job_runs(
    services: ServiceRunner, client: httpx.Client, db: psycopg.Connection, new_student: Any,
    invariants: None,
) -> None:  # fmt: skip
    student = new_student(balance=0)
    later = datetime.now(UTC) + timedelta(days=60)
    grant(services, student.id, 100, expires_at=later)
    grant(services, student.id, 7, value_minor=70)  # paid, never expiring
    soon = grant(services, student.id, 40, expires_at=datetime.now(UTC) + timedelta(hours=1))
    hold = new_hold(client, student, 30)  # reserved in the soonest-expiring lot
    before = shown(client, student)
    assert [e["amount"] for e in before["expiring"]] == [10, 100]
    assert figures(client, student) == (147, 30, 117, 7, 140)

    lot = expire_lot(db, soon)  # its expiresAt passed a second ago; no job has run
    after = shown(client, student)
    # Its 10 free credits are gone from every figure; the 30 the live hold reserves stay,
    # in the balance and in `granted` (they cannot expire under the hold).
    assert figures(client, student) == (137, 30, 107, 7, 130)
    assert [e["amount"] for e in after["expiring"]] == [100]
    assert after["expiring"][0]["expiresAt"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    # Written down by the read, once: the balance is the ledger sum, the history shows it.
    assert expiries(db, student.id) == [(f"lot:{lot}", 10)]
    assert ledger_balance(db, student.id) == 137
    history = client.get("/api/credits/transactions?type=EXPIRY", headers=student.headers)
    assert [e["amount"] for e in history.json()["items"]] == [10]

    expire_now(db, hold["holdId"])  # now the hold is past its expiry too, before any job
    assert figures(client, student) == (107, 0, 107, 7, 100)
    assert expiries(db, student.id) == [
        (f"lot:{lot}", 10),
        (f"lot:{lot}:hold:{hold['holdId']}", 30),
    ]
    assert figures(client, student) == (107, 0, 107, 7, 100)  # and nothing twice
    assert len(expiries(db, student.id)) == 2
