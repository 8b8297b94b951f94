"""Concurrent spends against the live app (real HTTP, real PostgreSQL row locks)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from tests.credits.factory import entry_count, key_count, new_key, spend_headers
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.services import ServiceRunner
from tests.support.tiers import BOTH_TIERS, OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]


async def _spend_all(
    open_http: OpenHttp, requests: list[tuple[Account, dict[str, Any], str]]
) -> list[httpx.Response]:
    async with open_http() as http:
        return list(
            await asyncio.gather(
                *(
                    http.post("/api/credits/spend", json=body, headers=spend_headers(account, key))
                    for account, body, key in requests
                )
            )
        )


@BOTH_TIERS
async def test_fifty_concurrent_spends_of_one_against_ten(
    tier: str, new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    body = {"amount": 1, "reason": "voice minute"}
    responses = await _spend_all(new_async_client, [(student, body, new_key()) for _ in range(50)])

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 402: 40}, statuses
    assert sorted(r.json()["balanceAfter"] for r in responses if r.status_code == 201) == list(
        range(10)
    )
    assert all(
        r.json()["code"] == "insufficient_credits" for r in responses if r.status_code == 402
    )
    assert ledger_balance(db, student.id) == (0, 0)
    assert entry_count(db, student.id, "USAGE") == 10
    assert key_count(db, student.id) == 50


async def test_two_concurrent_spends_of_five_against_five(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    for _ in range(5):  # several rounds: each is a fresh race
        student = new_student(balance=5)
        body = {"amount": 5, "reason": "mock exam"}
        responses = await _spend_all(
            new_async_client, [(student, body, new_key()) for _ in range(2)]
        )
        assert sorted(r.status_code for r in responses) == [201, 402]
        assert ledger_balance(db, student.id) == (0, 0)
        assert entry_count(db, student.id, "USAGE") == 1


async def test_spends_racing_credits_end_on_the_exact_balance(
    new_async_client: OpenHttp,
    db: psycopg.Connection,
    services: ServiceRunner,
    new_student: NewStudent,
) -> None:
    student = new_student(balance=3)
    sid = uuid.UUID(student.id)

    def credit(amount: int) -> None:
        services.in_transaction(
            lambda session, _: ledger.credit(
                session,
                student_id=sid,
                amount=amount,
                source_type=SourceType.ADMIN_ADJUSTMENT,
                description="race credit",
            )
        )

    body = {"amount": 2, "reason": "quiz"}
    spends = _spend_all(new_async_client, [(student, body, new_key()) for _ in range(30)])
    credits = [asyncio.to_thread(credit, 5) for _ in range(8)]
    responses, *_ = await asyncio.gather(spends, *credits)

    spent = sum(2 for r in responses if r.status_code == 201)
    assert {r.status_code for r in responses} <= {201, 402}
    expected = 3 + 8 * 5 - spent
    assert expected >= 0
    assert ledger_balance(db, student.id) == (expected, expected)
    assert entry_count(db, student.id, "USAGE") == spent // 2


async def test_concurrent_requests_with_one_key_execute_once(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    key = new_key()
    body = {"amount": 7, "reason": "voice"}
    responses = await _spend_all(new_async_client, [(student, body, key) for _ in range(20)])

    assert entry_count(db, student.id, "USAGE") == 1
    assert ledger_balance(db, student.id) == (93, 93)
    executed = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(executed) == 1
    for response in responses:
        if response.status_code == 201:
            assert response.json() == executed[0].json()
        else:
            assert response.status_code == 409
            assert response.json()["code"] == "request_in_progress"


async def test_concurrent_different_requests_with_one_key_execute_once(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    key = new_key()
    requests = [(student, {"amount": n, "reason": "voice"}, key) for n in range(1, 11)]
    responses = await _spend_all(new_async_client, requests)

    assert entry_count(db, student.id, "USAGE") == 1
    winners = [r for r in responses if r.status_code == 201]
    assert len(winners) == 1
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {
        "idempotency_key_reused",
        "request_in_progress",
    }
    balance = winners[0].json()["balanceAfter"]
    assert ledger_balance(db, student.id) == (balance, balance)


async def test_one_key_from_many_students_at_once_executes_for_each(
    new_async_client: OpenHttp, db: psycopg.Connection, new_student: NewStudent
) -> None:
    students = [new_student(balance=10) for _ in range(5)]
    key = new_key()
    responses = await _spend_all(
        new_async_client, [(s, {"amount": 4, "reason": "voice"}, key) for s in students]
    )
    assert [r.status_code for r in responses] == [201] * 5
    for student in students:
        assert ledger_balance(db, student.id) == (6, 6)
