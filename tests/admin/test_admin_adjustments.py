"""POST /api/admin/students/{id}/credit-adjustments over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from tests.credits.factory import entry_count, key_count, make_student, new_key, spend_headers
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.services import ServiceRunner
from tests.support.tiers import OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")
FIELDS = {
    "transactionId",
    "studentId",
    "type",
    "amount",
    "balanceAfter",
    "sourceType",
    "description",
    "actorId",
    "createdAt",
}


def adjust(
    client: httpx.Client,
    admin: Account,
    student_id: str,
    body: Any,
    key: str | None = None,
) -> httpx.Response:
    headers = dict(admin.headers) | ({"Idempotency-Key": key} if key else {})
    return client.post(
        f"/api/admin/students/{student_id}/credit-adjustments", json=body, headers=headers
    )


@pytest.fixture
def student(services: ServiceRunner) -> Account:
    return make_student(services, balance=10)


def test_a_positive_adjustment_credits_and_records_the_admin(
    client: httpx.Client, db: psycopg.Connection, admin: Account, student: Account
) -> None:
    response = adjust(client, admin, student.id, {"amount": 25, "reason": "Goodwill: outage"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == FIELDS
    assert body["studentId"] == student.id
    assert (body["type"], body["amount"], body["balanceAfter"]) == ("CREDIT", 25, 35)
    assert (body["sourceType"], body["actorId"]) == ("ADMIN_ADJUSTMENT", admin.id)
    assert body["description"] == "Goodwill: outage"
    row = db.execute(
        "SELECT entry_type, amount, source_type, actor_id::text, description "
        "FROM credit_transactions WHERE id = %s",
        (body["transactionId"],),
    ).fetchone()
    assert row == ("CREDIT", 25, "ADMIN_ADJUSTMENT", admin.id, "Goodwill: outage")
    assert ledger_balance(db, student.id) == (35, 35)


def test_a_covered_negative_adjustment_debits(
    client: httpx.Client, db: psycopg.Connection, admin: Account, student: Account
) -> None:
    response = adjust(client, admin, student.id, {"amount": -10, "reason": "Duplicate bonus"})
    assert response.status_code == 201, response.text
    assert (response.json()["type"], response.json()["amount"]) == ("DEBIT", 10)
    assert response.json()["balanceAfter"] == 0
    assert ledger_balance(db, student.id) == (0, 0)


def test_a_negative_adjustment_below_zero_is_409_and_writes_nothing(
    client: httpx.Client,
    db: psycopg.Connection,
    services: ServiceRunner,
    admin: Account,
    student: Account,
) -> None:
    before = entry_count(db, student.id)
    response = adjust(client, admin, student.id, {"amount": -11, "reason": "too much"})
    assert response.status_code == 409
    # Its own code (issue 16): insufficient_credits is 402 everywhere.
    assert response.json()["code"] == "adjustment_exceeds_balance"
    assert entry_count(db, student.id) == before
    assert ledger_balance(db, student.id) == (10, 10)

    # A balance already negative (after a clawback) covers no negative adjustment at all.
    services.in_transaction(
        lambda session, _: ledger.clawback(
            session,
            student_id=uuid.UUID(student.id),
            amount=15,
            source_type=SourceType.DISPUTE,
            description="lost dispute",
        )
    )
    response = adjust(client, admin, student.id, {"amount": -1, "reason": "anything"})
    assert response.status_code == 409
    assert ledger_balance(db, student.id) == (-5, -5)
    # A positive one brings it back.
    assert (
        adjust(client, admin, student.id, {"amount": 5, "reason": "fix"}).json()["balanceAfter"]
        == 0
    )


@pytest.mark.parametrize(
    "student_id",
    [str(uuid.uuid4()), "not-a-uuid", "123", "%20"],
    ids=["unknown", "bad", "num", "sp"],
)
def test_unknown_or_malformed_student_is_404(
    client: httpx.Client, admin: Account, student_id: str
) -> None:
    response = adjust(client, admin, student_id, {"amount": 5, "reason": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "student_not_found"


def test_an_instructor_is_not_a_student(
    client: httpx.Client, admin: Account, instructor: Account
) -> None:
    response = adjust(client, admin, instructor.id, {"amount": 5, "reason": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "student_not_found"


def test_only_admins_adjust(
    client: httpx.Client, db: psycopg.Connection, student: Account, instructor: Account
) -> None:
    for account in (student, instructor):
        response = adjust(client, account, student.id, {"amount": 5, "reason": "x"})
        assert response.status_code == 403
        assert response.json()["code"] == "admin_only"
    anonymous = client.post(
        f"/api/admin/students/{student.id}/credit-adjustments", json={"amount": 5, "reason": "x"}
    )
    assert anonymous.status_code == 401
    assert ledger_balance(db, student.id) == (10, 10)


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0, "reason": "x"},
        {"amount": 1.5, "reason": "x"},
        {"amount": "5", "reason": "x"},
        {"amount": True, "reason": "x"},
        {"amount": None, "reason": "x"},
        {"amount": 1_000_001, "reason": "x"},
        {"amount": -1_000_001, "reason": "x"},
        {"amount": 2**63, "reason": "x"},
        {"amount": -(2**63) - 1, "reason": "x"},
        {"amount": 5, "reason": ""},
        {"amount": 5, "reason": "x" * 201},
        {"amount": 5, "reason": "goodwill\u0000"},
        {"amount": -5, "reason": "\u0000"},
        {"amount": 5},
    ],
    ids=repr,
)
def test_bad_bodies_are_422_and_write_nothing(
    client: httpx.Client, db: psycopg.Connection, admin: Account, student: Account, body: Any
) -> None:
    before = entry_count(db, student.id)
    response = adjust(client, admin, student.id, body, key=new_key())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert entry_count(db, student.id) == before
    assert key_count(db, student.id) == 0


def test_an_idempotency_key_makes_retries_safe(
    client: httpx.Client, db: psycopg.Connection, admin: Account, student: Account
) -> None:
    key = new_key()
    body = {"amount": 40, "reason": "Compensation"}
    first = adjust(client, admin, student.id, body, key)
    again = adjust(client, admin, student.id, body, key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert entry_count(db, student.id, "ADMIN_ADJUSTMENT") == 2  # set-balance + this one
    assert ledger_balance(db, student.id) == (50, 50)

    reused = adjust(client, admin, student.id, {"amount": 41, "reason": "Compensation"}, key)
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"

    refused_key = new_key()
    refused = adjust(client, admin, student.id, {"amount": -51, "reason": "oops"}, refused_key)
    assert refused.status_code == 409
    assert refused.json()["code"] == "adjustment_exceeds_balance"
    replayed = adjust(client, admin, student.id, {"amount": -51, "reason": "oops"}, refused_key)
    assert (replayed.status_code, replayed.json()) == (409, refused.json())

    bad = adjust(client, admin, student.id, body, "bad key")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_idempotency_key"
    assert ledger_balance(db, student.id) == (50, 50)


@pytest.mark.parametrize("admin_first", [False, True], ids=["spend-first", "admin-first"])
def test_the_same_key_for_a_spend_and_an_adjustment_executes_both(
    client: httpx.Client, db: psycopg.Connection, admin: Account, student: Account,
    admin_first: bool,
) -> None:  # fmt: skip
    """Keys are scoped by operation: the student's spend key and an admin's adjustment key
    for that student never collide, even as the very same string."""
    key = new_key()
    spend_body, adjust_body = {"amount": 3, "reason": "quiz"}, {"amount": 20, "reason": "fix"}

    def spend() -> httpx.Response:
        return client.post(
            "/api/credits/spend", json=spend_body, headers=spend_headers(student, key)
        )

    first, second = (
        (lambda: adjust(client, admin, student.id, adjust_body, key), spend)
        if admin_first
        else (spend, lambda: adjust(client, admin, student.id, adjust_body, key))
    )
    responses = [first(), second()]
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert not any("idempotent-replayed" in r.headers for r in responses)
    assert ledger_balance(db, student.id) == (27, 27)
    assert entry_count(db, student.id, "USAGE") == 1
    assert entry_count(db, student.id, "ADMIN_ADJUSTMENT") == 2  # set-balance + this one
    assert key_count(db, student.id) == 2

    # Each replays its own first answer and writes nothing.
    again = [first(), second()]
    assert [(r.status_code, r.json()) for r in again] == [
        (r.status_code, r.json()) for r in responses
    ]
    assert all(r.headers["idempotent-replayed"] == "true" for r in again)
    # And each still refuses a different request under the key as reuse.
    other_spend = client.post(
        "/api/credits/spend",
        json={"amount": 4, "reason": "quiz"},
        headers=spend_headers(student, key),
    )
    other_adjust = adjust(client, admin, student.id, {"amount": 21, "reason": "fix"}, key)
    assert [other_spend.status_code, other_adjust.status_code] == [409, 409]
    assert {other_spend.json()["code"], other_adjust.json()["code"]} == {"idempotency_key_reused"}
    assert ledger_balance(db, student.id) == (27, 27)


def test_the_retry_caveat_is_in_the_openapi_description(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"][
        "/api/admin/students/{student_id}/credit-adjustments"
    ]["post"]
    assert "without it the request is not idempotent" in " ".join(operation["description"].split())
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["required"] is False
    assert "retry adjusts twice" in header["description"]


async def test_spends_racing_admin_adjustments_end_on_the_exact_balance(
    new_async_client: OpenHttp, db: psycopg.Connection, admin: Account, student: Account
) -> None:
    adjustments = [5, -3, 7, -2, 4, -6, 9, 1, -1, 3]
    async with new_async_client() as http:
        spend_calls = [
            http.post(
                "/api/credits/spend",
                json={"amount": 2, "reason": "race"},
                headers=spend_headers(student, new_key()),
            )
            for _ in range(25)
        ]
        adjust_calls = [
            http.post(
                f"/api/admin/students/{student.id}/credit-adjustments",
                json={"amount": amount, "reason": "race"},
                headers=admin.headers,
            )
            for amount in adjustments
        ]
        responses = await asyncio.gather(*spend_calls, *adjust_calls)
    spends, adjusted = responses[:25], responses[25:]
    assert {r.status_code for r in spends} <= {201, 402}
    assert {r.status_code for r in adjusted} <= {201, 409}
    applied = sum(a for a, r in zip(adjustments, adjusted, strict=True) if r.status_code == 201)
    spent = 2 * sum(r.status_code == 201 for r in spends)
    expected = 10 + applied - spent
    assert expected >= 0
    assert ledger_balance(db, student.id) == (expected, expected)
