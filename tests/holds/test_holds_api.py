"""The holds API over real HTTP: lifecycle, available balance, refusals, replays, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from tests.credits.factory import entry_count, new_key, spend_headers
from tests.holds.support import (
    HOLD_FIELDS,
    HOLDS,
    act,
    balances,
    capture_entries,
    create,
    hold_row,
    new_hold,
)
from tests.support.accounts import Account
from tests.support.invariants import ledger_balance
from tests.support.tiers import BOTH_TIERS

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_hold_reserves_without_moving_the_balance(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=30)
    response = create(client, student, 12, reason="Voice call", ttlSeconds=300)

    assert response.status_code == 201, response.text
    hold = response.json()
    assert set(hold) == HOLD_FIELDS
    assert (hold["status"], hold["amount"], hold["capturedAmount"]) == ("ACTIVE", 12, 0)
    assert (hold["reason"], hold["availableBalance"], hold["transactionId"]) == (
        "Voice call",
        18,
        None,
    )
    lifetime = _when(hold["expiresAt"]) - _when(hold["createdAt"])
    assert lifetime == timedelta(seconds=300)
    assert balances(client, student) == {"balance": 30, "held": 12, "available": 18}
    assert ledger_balance(db, student.id) == (30, 30)
    assert entry_count(db, student.id, "USAGE") == 0


def test_default_ttl_is_fifteen_minutes(client: httpx.Client, new_student: NewStudent) -> None:
    hold = new_hold(client, new_student(balance=5), 5)
    assert _when(hold["expiresAt"]) - _when(hold["createdAt"]) == timedelta(seconds=900)


def test_spends_and_new_holds_use_the_available_balance(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    new_hold(client, student, 7)

    spend = client.post(
        "/api/credits/spend",
        json={"amount": 4, "reason": "quiz"},
        headers=spend_headers(student, new_key()),
    )
    assert spend.status_code == 402, spend.text
    assert spend.json()["code"] == "insufficient_credits"
    refused = create(client, student, 4)
    assert refused.status_code == 402, refused.text
    assert refused.json() == {"error": refused.json()["error"], "code": "insufficient_credits"}

    exact = create(client, student, 3)
    assert exact.status_code == 201, exact.text
    assert exact.json()["availableBalance"] == 0
    assert balances(client, student) == {"balance": 10, "held": 10, "available": 0}
    assert ledger_balance(db, student.id) == (10, 10)


@BOTH_TIERS
def test_capture_charges_one_usage_entry_and_releases_the_rest(
    tier: str, client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=50)
    hold = new_hold(client, student, 20, reason="Voice tutoring, cardiology")
    response = act(client, student, hold["holdId"], "capture", {"amount": 13})

    assert response.status_code == 201, response.text
    captured = response.json()
    assert (captured["status"], captured["amount"], captured["capturedAmount"]) == (
        "CAPTURED",
        0,
        13,
    )
    assert captured["availableBalance"] == 37
    assert ledger_balance(db, student.id) == (37, 37)
    assert capture_entries(db, hold["holdId"]) == [(13, "DEBIT")]
    row = db.execute(
        "SELECT id::text, description, balance_after FROM credit_transactions WHERE source_id = %s",
        (f"hold:{hold['holdId']}",),
    ).fetchone()
    assert row == (captured["transactionId"], "Voice tutoring, cardiology", 37)
    assert balances(client, student) == {"balance": 37, "held": 0, "available": 37}
    shown = client.get(f"{HOLDS}/{hold['holdId']}", headers=student.headers).json()
    assert shown == captured


def test_capture_without_an_amount_charges_the_whole_hold(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=9)
    hold = new_hold(client, student, 9)
    response = client.post(
        f"{HOLDS}/{hold['holdId']}/capture", headers=spend_headers(student, new_key())
    )
    assert response.status_code == 201, response.text
    assert response.json()["capturedAmount"] == 9
    assert ledger_balance(db, student.id) == (0, 0)


def test_capture_of_zero_is_a_release(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=9)
    hold = new_hold(client, student, 6)
    response = act(client, student, hold["holdId"], "capture", {"amount": 0})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["capturedAmount"]) == ("RELEASED", 0)
    assert hold_row(db, hold["holdId"]) == ("RELEASED", 6, None)
    assert capture_entries(db, hold["holdId"]) == []
    assert balances(client, student) == {"balance": 9, "held": 0, "available": 9}


def test_capture_of_more_than_is_held_is_refused(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=50)
    hold = new_hold(client, student, 5)
    response = act(client, student, hold["holdId"], "capture", {"amount": 6})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "amount_exceeds_hold"
    assert hold_row(db, hold["holdId"]) == ("ACTIVE", 5, None)
    assert ledger_balance(db, student.id) == (50, 50)


def test_release_frees_the_credits_and_charges_nothing(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=8)
    hold = new_hold(client, student, 8)
    response = act(client, student, hold["holdId"], "release")
    assert response.status_code == 200, response.text
    released = response.json()
    assert (released["status"], released["amount"], released["availableBalance"]) == (
        "RELEASED",
        0,
        8,
    )
    assert hold_row(db, hold["holdId"]) == ("RELEASED", 8, None)
    assert ledger_balance(db, student.id) == (8, 8)
    assert entry_count(db, student.id, "USAGE") == 0


def test_extend_adds_credits_and_renews_the_expiry(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=20)
    hold = new_hold(client, student, 5, ttlSeconds=120)
    response = act(
        client, student, hold["holdId"], "extend", {"additionalAmount": 5, "ttlSeconds": 600}
    )
    assert response.status_code == 200, response.text
    extended = response.json()
    assert (extended["status"], extended["amount"], extended["availableBalance"]) == (
        "ACTIVE",
        10,
        10,
    )
    assert _when(extended["expiresAt"]) - _when(hold["createdAt"]) >= timedelta(seconds=600)
    # Only a renewal: the hold's own ttl, never earlier than it already expires.
    renewed = act(client, student, hold["holdId"], "extend", {})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["amount"] == 10
    assert _when(renewed.json()["expiresAt"]) >= _when(extended["expiresAt"])
    assert balances(client, student) == {"balance": 20, "held": 10, "available": 10}


def test_an_extend_that_is_not_covered_leaves_the_hold_as_it_was(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 6, ttlSeconds=120)
    response = act(
        client, student, hold["holdId"], "extend", {"additionalAmount": 5, "ttlSeconds": 900}
    )
    assert response.status_code == 402, response.text
    assert response.json()["code"] == "insufficient_credits"
    shown = client.get(f"{HOLDS}/{hold['holdId']}", headers=student.headers).json()
    assert (shown["amount"], shown["expiresAt"]) == (6, hold["expiresAt"])
    assert balances(client, student) == {"balance": 10, "held": 6, "available": 4}


def test_a_closed_hold_cannot_change_again(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=30)
    captured = new_hold(client, student, 10)
    assert act(client, student, captured["holdId"], "capture", {"amount": 4}).status_code == 201
    released = new_hold(client, student, 10)
    assert act(client, student, released["holdId"], "release").status_code == 200

    for hold in (captured, released):
        for action, body in (
            ("capture", {"amount": 1}),
            ("extend", {"additionalAmount": 1}),
            ("release", None),
        ):
            response = act(client, student, hold["holdId"], action, body)
            assert response.status_code == 409, (action, response.text)
            assert response.json()["code"] == "hold_closed"
    assert capture_entries(db, captured["holdId"]) == [(4, "DEBIT")]
    assert ledger_balance(db, student.id) == (26, 26)


def test_every_call_replays_its_first_answer(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=40)
    create_key = new_key()
    first = create(client, student, 10, key=create_key)
    again = create(client, student, 10, key=create_key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    hold_id = first.json()["holdId"]
    assert db.execute(
        "SELECT count(*) FROM credit_holds WHERE student_id = %s", (student.id,)
    ).fetchone() == (1,)

    calls = [
        ("extend", {"additionalAmount": 5}),
        ("extend", {"additionalAmount": 500}),  # a 402 replays as a 402
        ("capture", {"amount": 12}),
        ("release", None),  # a 409 hold_closed replays as well
    ]
    for action, body in calls:
        key = new_key()
        original = act(client, student, hold_id, action, body, key=key)
        replay = act(client, student, hold_id, action, body, key=key)
        assert (replay.status_code, replay.json()) == (original.status_code, original.json())
        assert replay.headers["idempotent-replayed"] == "true"
    assert capture_entries(db, hold_id) == [(12, "DEBIT")]
    assert ledger_balance(db, student.id) == (28, 28)


def test_a_key_reused_for_another_request_is_refused(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=40)
    key = new_key()
    assert create(client, student, 10, key=key).status_code == 201
    reused = create(client, student, 11, key=key)
    assert reused.status_code == 409, reused.text
    assert reused.json()["code"] == "idempotency_key_reused"
    hold = new_hold(client, student, 5)
    capture_key = new_key()
    first = act(client, student, hold["holdId"], "capture", {"amount": 2}, key=capture_key)
    assert first.status_code == 201, first.text
    other = act(client, student, hold["holdId"], "capture", {"amount": 3}, key=capture_key)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert capture_entries(db, hold["holdId"]) == [(2, "DEBIT")]


def test_another_students_hold_does_not_exist(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    owner, other = new_student(balance=10), new_student(balance=10)
    hold = new_hold(client, owner, 5)
    assert client.get(f"{HOLDS}/{hold['holdId']}", headers=other.headers).status_code == 404
    for action in ("extend", "capture", "release"):
        response = act(client, other, hold["holdId"], action, {})
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "hold_not_found"
    for path in (f"{HOLDS}/not-a-uuid", f"{HOLDS}/{uuid.uuid4()}"):
        assert client.get(path, headers=owner.headers).status_code == 404
    listed = client.get(HOLDS, headers=other.headers).json()
    assert listed == {"items": [], "nextCursor": None}
    assert hold_row(db, hold["holdId"]) == ("ACTIVE", 5, None)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 0, "reason": "x"}, "validation_error"),
        ({"amount": "5", "reason": "x"}, "validation_error"),
        ({"amount": 5.5, "reason": "x"}, "validation_error"),  # 5.0 is the integer 5 in JSON
        ({"amount": 1_000_001, "reason": "x"}, "validation_error"),
        ({"amount": 5, "reason": ""}, "validation_error"),
        ({"amount": 5, "reason": "x", "ttlSeconds": 59}, "validation_error"),
        ({"amount": 5, "reason": "x", "ttlSeconds": 86_401}, "validation_error"),
        ({"amount": 5}, "validation_error"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client: httpx.Client,
    db: psycopg.Connection,
    new_student: NewStudent,
    body: dict[str, object],
    code: str,
) -> None:
    student = new_student(balance=10)
    response = client.post(HOLDS, json=body, headers=spend_headers(student, new_key()))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert db.execute(
        "SELECT count(*) FROM credit_holds WHERE student_id = %s", (student.id,)
    ).fetchone() == (0,)


def test_a_missing_or_malformed_key_is_refused(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    body = {"amount": 5, "reason": "x"}
    missing = client.post(HOLDS, json=body, headers=student.headers)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
    bad = client.post(HOLDS, json=body, headers=spend_headers(student, "short"))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_idempotency_key")
    assert db.execute(
        "SELECT count(*) FROM credit_holds WHERE student_id = %s", (student.id,)
    ).fetchone() == (0,)


def test_only_students_hold_credits(
    client: httpx.Client, instructor: Account, new_student: NewStudent
) -> None:
    response = create(client, instructor, 5)
    assert response.status_code == 403, response.text
    assert client.get(HOLDS, headers=instructor.headers).status_code == 403
    assert client.post(HOLDS, json={"amount": 5, "reason": "x"}).status_code == 401


def test_list_filters_by_status_and_pages(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=100)
    holds = [new_hold(client, student, n) for n in range(1, 6)]
    act(client, student, holds[0]["holdId"], "release")
    act(client, student, holds[1]["holdId"], "capture", {"amount": 1})

    active = client.get(HOLDS, params={"status": "ACTIVE"}, headers=student.headers).json()
    assert [h["holdId"] for h in active["items"]] == [h["holdId"] for h in holds[:1:-1]]
    first = client.get(HOLDS, params={"limit": 2}, headers=student.headers).json()
    second = client.get(
        HOLDS, params={"limit": 2, "cursor": first["nextCursor"]}, headers=student.headers
    ).json()
    third = client.get(
        HOLDS, params={"limit": 2, "cursor": second["nextCursor"]}, headers=student.headers
    ).json()
    pages = first["items"] + second["items"] + third["items"]
    assert [h["holdId"] for h in pages] == [h["holdId"] for h in reversed(holds)]
    assert third["nextCursor"] is None
    assert {h["status"] for h in pages} == {"ACTIVE", "RELEASED", "CAPTURED"}
    bad = client.get(HOLDS, params={"status": "NOPE"}, headers=student.headers)
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    bad_cursor = client.get(HOLDS, params={"cursor": "zzz"}, headers=student.headers)
    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (400, "invalid_cursor")
