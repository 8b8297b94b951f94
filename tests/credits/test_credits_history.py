"""GET /api/credits/balance and /api/credits/transactions: own data only, cursor pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest

from medgrader.core.cursor import encode_seq_cursor
from tests.credits.factory import new_key, spend_headers
from tests.support.accounts import Account

NewStudent = Callable[..., Account]
ITEM_FIELDS = {
    "id",
    "type",
    "amount",
    "balanceAfter",
    "sourceType",
    "sourceId",
    "description",
    "createdAt",
}


def _spend(client: httpx.Client, student: Account, amount: int, reason: str) -> None:
    response = client.post(
        "/api/credits/spend",
        json={"amount": amount, "reason": reason},
        headers=spend_headers(student, new_key()),
    )
    assert response.status_code == 201, response.text


def _pages(client: httpx.Client, student: Account, **params: object) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/credits/transactions", params=query, headers=student.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages


@pytest.fixture
def busy_student(client: httpx.Client, new_student: NewStudent) -> Account:
    """Welcome bonus (100), a set-balance adjustment to 50, then 5 spends of 1..5."""
    student = new_student(balance=50)
    for n in range(1, 6):
        _spend(client, student, n, f"spend {n}")
    return student


def test_balance_is_the_students_own(client: httpx.Client, busy_student: Account) -> None:
    response = client.get("/api/credits/balance", headers=busy_student.headers)
    assert response.status_code == 200
    shown = response.json()
    assert {k: shown[k] for k in ("balance", "held", "available")} == {
        "balance": 35, "held": 0, "available": 35,
    }  # fmt: skip
    assert (shown["paid"], shown["granted"]) == (0, 35)  # what is left of the welcome bonus


def test_transactions_are_newest_first_and_paginate_without_gaps(
    client: httpx.Client, busy_student: Account
) -> None:
    pages = _pages(client, busy_student, limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    items = [item for page in pages for item in page]
    assert set(items[0]) == ITEM_FIELDS
    assert [i["description"] for i in items] == [
        "spend 5",
        "spend 4",
        "spend 3",
        "spend 2",
        "spend 1",
        "test: set balance",
        "Welcome bonus",
    ]
    assert [(i["type"], i["amount"], i["balanceAfter"]) for i in items[:2]] == [
        ("DEBIT", 5, 35),
        ("DEBIT", 4, 40),
    ]
    assert items[-1]["type"] == "CREDIT"
    assert items[-1]["sourceType"] == "WELCOME_BONUS"
    assert len({i["id"] for i in items}) == 7

    default = client.get("/api/credits/transactions", headers=busy_student.headers).json()
    assert len(default["items"]) == 7
    assert default["nextCursor"] is None


@pytest.mark.parametrize(
    ("type_filter", "descriptions"),
    [
        ("USAGE", ["spend 5", "spend 4", "spend 3", "spend 2", "spend 1"]),
        ("CREDIT", ["Welcome bonus"]),
        ("DEBIT", ["spend 5", "spend 4", "spend 3", "spend 2", "spend 1", "test: set balance"]),
        ("DEBIT,ADMIN_ADJUSTMENT", ["test: set balance"]),
        ("welcome_bonus,ADMIN_ADJUSTMENT", ["test: set balance", "Welcome bonus"]),
        ("PURCHASE", []),
    ],
)
def test_the_type_filter(
    client: httpx.Client, busy_student: Account, type_filter: str, descriptions: list[str]
) -> None:
    pages = _pages(client, busy_student, limit=2, type=type_filter)
    assert [i["description"] for page in pages for i in page] == descriptions


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": 0}, 422, "validation_error"),
        ({"limit": 101}, 422, "validation_error"),
        ({"limit": "ten"}, 422, "validation_error"),
        ({"type": "SPEND"}, 422, "validation_error"),
        ({"cursor": "garbage!"}, 400, "invalid_cursor"),
        ({"cursor": "c2VxOg"}, 400, "invalid_cursor"),  # "seq:" with no number
        ({"cursor": "c2VxOi0x"}, 400, "invalid_cursor"),  # "seq:-1"
        ({"cursor": "MTIz"}, 400, "invalid_cursor"),  # "123" without the prefix
        ({"cursor": "MTIz\x00"}, 422, "validation_error"),  # NUL: refused before any query
        ({"type": "USAGE\x00"}, 422, "validation_error"),
    ],
)
def test_bad_parameters(
    client: httpx.Client, busy_student: Account, params: dict, status: int, code: str
) -> None:
    response = client.get("/api/credits/transactions", params=params, headers=busy_student.headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_another_students_entries_are_never_reachable(
    client: httpx.Client, db: psycopg.Connection, busy_student: Account, new_student: NewStudent
) -> None:
    other = new_student()
    own = client.get("/api/credits/transactions", headers=other.headers).json()
    assert [i["sourceType"] for i in own["items"]] == ["WELCOME_BONUS"]
    # A cursor past everyone's entries still pages only the caller's own.
    row = db.execute("SELECT max(seq) FROM credit_transactions").fetchone()
    assert row is not None
    forged = client.get(
        "/api/credits/transactions",
        params={"cursor": encode_seq_cursor(row[0] + 1)},
        headers=other.headers,
    ).json()
    assert [i["sourceType"] for i in forged["items"]] == ["WELCOME_BONUS"]
    busy_ids = {
        str(r[0])
        for r in db.execute(
            "SELECT id FROM credit_transactions WHERE student_id = %s", (busy_student.id,)
        )
    }
    assert not busy_ids & {i["id"] for i in forged["items"]}


def test_instructors_and_anonymous_callers_are_refused(
    client: httpx.Client, instructor: Account, admin: Account
) -> None:
    for path in ("/api/credits/balance", "/api/credits/transactions"):
        for account in (instructor, admin):
            response = client.get(path, headers=account.headers)
            assert response.status_code == 403
            assert response.json()["code"] == "student_only"
        assert client.get(path).status_code == 401


def test_a_token_for_an_unknown_user_is_401(client: httpx.Client, services) -> None:  # type: ignore[no-untyped-def]
    from medgrader.core.tokens import issue_access_token

    token = issue_access_token(services.ctx.tokens, uuid.uuid4(), 0)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()}
    spent = client.post("/api/credits/spend", json={"amount": 1, "reason": "x"}, headers=headers)
    assert spent.status_code == 401
    assert spent.json()["code"] == "invalid_token"
    assert client.get("/api/credits/balance", headers=headers).status_code == 401
