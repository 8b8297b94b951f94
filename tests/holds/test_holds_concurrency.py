"""Holds under concurrency against the live app: real HTTP, real PostgreSQL row locks."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.holds.sweep import expire_due_holds
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import PACKAGE_SPECS, settle_webhooks, start_checkout
from tests.credits.factory import entry_count, new_key, spend_headers
from tests.holds.support import HOLDS, balances, capture_entries, hold_row, new_hold
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.services import ServiceRunner
from tests.support.tiers import NewClient, OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]
Call = tuple[str, Account, dict[str, Any] | None, str]  # path, student, body, key


async def _post_all(open_http: OpenHttp, calls: list[Call]) -> list[httpx.Response]:
    async with open_http() as http:
        return list(
            await asyncio.gather(
                *(
                    http.post(path, json=body, headers=spend_headers(student, key))
                    for path, student, body, key in calls
                )
            )
        )


def _hold_call(student: Account, amount: int, key: str | None = None) -> Call:
    return (HOLDS, student, {"amount": amount, "reason": "voice"}, key or new_key())


def _spend_call(student: Account, amount: int) -> Call:
    return ("/api/credits/spend", student, {"amount": amount, "reason": "quiz"}, new_key())


def _held(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT COALESCE(sum(amount), 0) FROM credit_holds"
        " WHERE student_id = %s AND status = 'ACTIVE' AND expires_at > now()",
        (student_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


async def test_fifty_holds_of_one_against_ten_available(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    responses = await _post_all(new_async_client, [_hold_call(student, 1) for _ in range(50)])

    assert Counter(r.status_code for r in responses) == {201: 10, 402: 40}
    assert sorted(r.json()["availableBalance"] for r in responses if r.status_code == 201) == list(
        range(10)
    )
    assert _held(db, student.id) == 10
    assert ledger_balance(db, student.id) == (10, 10)


# End to end only: the purchase's webhook must land while the calls run, which it does when
# they travel over HTTP; in-process the fifty calls finish before it.
@pytest.mark.e2e
async def test_holds_racing_spends_racing_a_purchase_never_overdraw(
    new_client: NewClient,
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    new_student: NewStudent,
    stripe_emulator: EmulatorServer,
    packages: dict[str, dict[str, Any]],
) -> None:
    student = new_student(balance=10)
    credits, _ = PACKAGE_SPECS["starter"]
    with new_client() as http:
        session_id = start_checkout(http, student, packages["starter"]["id"])["sessionId"]

    def buy() -> None:  # paid in the emulator; its signed webhook credits the student
        stripe_emulator.pay(session_id)
        settle_webhooks(stripe_emulator)

    calls = [_hold_call(student, 3) for _ in range(25)]
    calls += [_spend_call(student, 3) for _ in range(25)]
    random.shuffle(calls)
    responses, _ = await asyncio.gather(_post_all(new_async_client, calls), asyncio.to_thread(buy))

    statuses = Counter((call[0], r.status_code) for call, r in zip(calls, responses, strict=True))
    assert set(statuses) <= {(HOLDS, 201), (HOLDS, 402), ("/api/credits/spend", 201),
                             ("/api/credits/spend", 402)}  # fmt: skip
    held = 3 * statuses[(HOLDS, 201)]
    spent = 3 * statuses[("/api/credits/spend", 201)]
    balance = 10 + credits - spent
    assert ledger_balance(db, student.id) == (balance, balance)
    assert _held(db, student.id) == held
    assert balance - held >= 0
    with new_client() as http:
        assert balances(http, student) == {
            "balance": balance,
            "held": held,
            "available": balance - held,
        }
    # Everything that was refused was refused for want of credits, never by accident: the
    # purchase alone covers more than half of the 150 asked for, so most calls succeeded.
    assert held + spent > credits // 2


def client_for(new_client: NewClient) -> httpx.Client:
    return new_client()


async def test_two_captures_of_one_hold_at_once_post_one_entry(
    new_client: NewClient,
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    new_student: NewStudent,
) -> None:
    for _ in range(5):  # each round a fresh race
        student = new_student(balance=20)
        with new_client() as http:
            hold = new_hold(http, student, 10)
        path = f"{HOLDS}/{hold['holdId']}/capture"
        calls: list[Call] = [(path, student, {"amount": n}, new_key()) for n in (4, 6)]
        responses = await _post_all(new_async_client, calls)

        assert sorted(r.status_code for r in responses) == [201, 409]
        winner = next(r.json() for r in responses if r.status_code == 201)
        loser = next(r.json() for r in responses if r.status_code == 409)
        assert loser["code"] == "hold_closed"
        assert capture_entries(db, hold["holdId"]) == [(winner["capturedAmount"], "DEBIT")]
        assert ledger_balance(db, student.id) == (20 - winner["capturedAmount"],) * 2


async def test_many_captures_of_one_hold_with_one_key_execute_once(
    new_client: NewClient,
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    new_student: NewStudent,
) -> None:
    student = new_student(balance=20)
    with new_client() as http:
        hold = new_hold(http, student, 10)
    key = new_key()
    path = f"{HOLDS}/{hold['holdId']}/capture"
    responses = await _post_all(new_async_client, [(path, student, {"amount": 7}, key)] * 10)

    assert capture_entries(db, hold["holdId"]) == [(7, "DEBIT")]
    done = [r for r in responses if r.status_code == 201]
    assert len([r for r in done if "idempotent-replayed" not in r.headers]) == 1
    assert all(r.json() == done[0].json() for r in done)
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {"request_in_progress"}


async def test_capture_racing_expiry_ends_in_exactly_one_of_the_two(
    new_client: NewClient,
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    services: ServiceRunner,
    new_student: NewStudent,
) -> None:
    student = new_student(balance=1000)
    outcomes: Counter[str] = Counter()

    def sweep_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            services.in_transaction(lambda session, _: expire_due_holds(session))

    async def capture_after(delay: float, hold_id: str) -> httpx.Response:
        await asyncio.sleep(delay)
        path = f"{HOLDS}/{hold_id}/capture"
        return (await _post_all(new_async_client, [(path, student, {"amount": 2}, new_key())]))[0]

    # A capture takes some 50-150 ms over HTTP here: expiries spread around that make some
    # rounds a capture, some an expiry, and the close ones a real race for the row.
    for round_ in range(16):
        with new_client() as http:
            hold = new_hold(http, student, 3)
        # The controllable clock: this hold now expires a few ms from the database's now.
        db.execute(
            "UPDATE credit_holds SET expires_at = clock_timestamp() + %s * interval '1 ms'"
            " WHERE id = %s",
            (25 * round_, hold["holdId"]),
        )
        response, _ = await asyncio.gather(
            capture_after(random.uniform(0, 0.05), hold["holdId"]),
            asyncio.to_thread(sweep_for, 0.3),
        )
        services.in_transaction(lambda session, _: expire_due_holds(session))
        status, _, captured = hold_row(db, hold["holdId"])
        entries = capture_entries(db, hold["holdId"])
        if response.status_code == 201:
            assert (status, captured, entries) == ("CAPTURED", 2, [(2, "DEBIT")])
        else:
            assert (response.status_code, response.json()["code"]) == (409, "hold_expired")
            assert (status, captured, entries) == ("EXPIRED", None, [])
        outcomes[status] += 1
    usage = entry_count(db, student.id, "USAGE")
    assert usage == outcomes["CAPTURED"]
    assert ledger_balance(db, student.id) == (1000 - 2 * usage,) * 2


async def test_extend_racing_a_spend_never_overdraws(
    new_client: NewClient,
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    new_student: NewStudent,
) -> None:
    for _ in range(5):
        student = new_student(balance=10)
        with new_client() as http:
            hold = new_hold(http, student, 5)
        extend: Call = (
            f"{HOLDS}/{hold['holdId']}/extend",
            student,
            {"additionalAmount": 5},
            new_key(),
        )
        calls = [extend, _spend_call(student, 5)]
        random.shuffle(calls)
        responses = await _post_all(new_async_client, calls)

        assert sorted(r.status_code for r in responses) in ([200, 402], [201, 402])
        balance, _ = ledger_balance(db, student.id)
        assert balance - _held(db, student.id) == 0
        assert (balance, _held(db, student.id)) in ((10, 10), (5, 5))


async def test_concurrent_creates_with_one_key_make_one_hold(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=50)
    key = new_key()
    responses = await _post_all(new_async_client, [_hold_call(student, 5, key)] * 15)
    count = db.execute(
        "SELECT count(*) FROM credit_holds WHERE student_id = %s", (student.id,)
    ).fetchone()
    assert count == (1,)
    created = [r for r in responses if r.status_code == 201]
    assert len(created) >= 1
    assert all(r.json() == created[0].json() for r in created)
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {"request_in_progress"}
    assert uuid.UUID(created[0].json()["holdId"])
