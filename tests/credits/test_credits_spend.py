"""POST /api/credits/spend over real HTTP: success, refusals, idempotency, bad input."""

from __future__ import annotations

import uuid
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
from tests.support.tiers import BOTH_TIERS

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]


def spend(
    client: httpx.Client, account: Account, body: Any, key: str | None = None
) -> httpx.Response:
    return client.post("/api/credits/spend", json=body, headers=spend_headers(account, key))


@BOTH_TIERS
def test_spend_debits_once_and_records_a_usage_entry(
    tier: str, client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=30)
    key = new_key()
    response = spend(client, student, {"amount": 12, "reason": "Voice tutoring, 12 min"}, key)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"transactionId", "balanceAfter"}
    assert body["balanceAfter"] == 18
    assert "idempotent-replayed" not in response.headers
    assert ledger_balance(db, student.id) == (18, 18)
    row = db.execute(
        "SELECT entry_type, amount, balance_after, source_type, description, metadata, "
        "idempotency_key FROM credit_transactions WHERE id = %s",
        (body["transactionId"],),
    ).fetchone()
    assert row is not None
    entry_type, amount, balance_after, source_type, description, metadata, ledger_key = row
    assert (entry_type, amount, balance_after, source_type) == ("DEBIT", 12, 18, "USAGE")
    assert description == "Voice tutoring, 12 min"
    assert metadata["idempotencyKey"] == key
    assert ledger_key == f"spend:{student.id}:{key}"
    shown = client.get("/api/credits/balance", headers=student.headers).json()
    assert {k: shown[k] for k in ("balance", "held", "available")} == {
        "balance": 18,
        "held": 0,
        "available": 18,
    }


def test_replay_answers_the_same_status_and_body_and_writes_nothing(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    key = new_key()
    first = spend(client, student, {"amount": 4, "reason": "quiz"}, key)
    again = spend(client, student, {"amount": 4, "reason": "quiz"}, key)
    # Whitespace around the reason is not part of the request (it is stripped on the way in).
    third = spend(client, student, {"amount": 4, "reason": "  quiz "}, key)

    assert first.status_code == again.status_code == third.status_code == 201
    assert first.json() == again.json() == third.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert entry_count(db, student.id, "USAGE") == 1
    assert ledger_balance(db, student.id) == (6, 6)


def test_same_key_with_a_different_request_is_409_and_writes_nothing(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    key = new_key()
    assert spend(client, student, {"amount": 4, "reason": "quiz"}, key).status_code == 201
    for changed in ({"amount": 5, "reason": "quiz"}, {"amount": 4, "reason": "other"}):
        response = spend(client, student, changed, key)
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_reused"
    assert entry_count(db, student.id, "USAGE") == 1
    assert ledger_balance(db, student.id) == (6, 6)


def test_the_same_key_from_two_students_executes_for_both(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    alice, bob = new_student(balance=10), new_student(balance=10)
    key = new_key()
    first = spend(client, alice, {"amount": 3, "reason": "quiz"}, key)
    second = spend(client, bob, {"amount": 3, "reason": "quiz"}, key)
    assert first.status_code == second.status_code == 201
    assert first.json()["transactionId"] != second.json()["transactionId"]
    assert ledger_balance(db, alice.id) == (7, 7)
    assert ledger_balance(db, bob.id) == (7, 7)


def test_insufficient_credits_is_402_and_the_key_replays_the_refusal(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent
) -> None:
    student = new_student(balance=5)
    key = new_key()
    refused = spend(client, student, {"amount": 6, "reason": "long session"}, key)
    assert refused.status_code == 402
    assert refused.json() == {
        "error": "Not enough credits for this.",
        "code": "insufficient_credits",
    }
    assert entry_count(db, student.id, "USAGE") == 0
    assert ledger_balance(db, student.id) == (5, 5)
    assert key_count(db, student.id) == 1  # the refusal is remembered

    # Topped up, the same key still answers the first answer (Stripe's rule) ...
    services.in_transaction(
        lambda session, _: ledger.credit(
            session,
            student_id=uuid.UUID(student.id),
            amount=10,
            source_type=SourceType.ADMIN_ADJUSTMENT,
            description="top-up",
        )
    )
    replayed = spend(client, student, {"amount": 6, "reason": "long session"}, key)
    assert replayed.status_code == 402
    assert replayed.json() == refused.json()
    # ... and a new key spends.
    assert (
        spend(client, student, {"amount": 6, "reason": "long session"}, new_key()).json()[
            "balanceAfter"
        ]
        == 9
    )
    assert ledger_balance(db, student.id) == (9, 9)


def test_a_negative_balance_after_a_clawback_refuses_spends_until_positive_again(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent
) -> None:
    student = new_student(balance=20)
    sid = uuid.UUID(student.id)
    services.in_transaction(
        lambda session, _: ledger.clawback(
            session,
            student_id=sid,
            amount=50,
            source_type=SourceType.REFUND,
            description="refund of a used package",
        )
    )
    assert ledger_balance(db, student.id) == (-30, -30)
    for amount in (1, 5):
        response = spend(client, student, {"amount": amount, "reason": "quiz"}, new_key())
        assert response.status_code == 402
        assert response.json()["code"] == "insufficient_credits"
    assert entry_count(db, student.id, "USAGE") == 0

    services.in_transaction(
        lambda session, _: ledger.credit(
            session,
            student_id=sid,
            amount=40,
            source_type=SourceType.ADMIN_ADJUSTMENT,
            description="goodwill",
        )
    )
    assert spend(client, student, {"amount": 11, "reason": "quiz"}, new_key()).status_code == 402
    ok = spend(client, student, {"amount": 10, "reason": "quiz"}, new_key())
    assert ok.status_code == 201
    assert ok.json()["balanceAfter"] == 0
    assert ledger_balance(db, student.id) == (0, 0)


@pytest.mark.parametrize(
    "amount",
    [0, -1, 1.5, "abc", "5", 2**63, 10**30, True, None, 1_000_001, [], {}],
    ids=repr,
)
def test_bad_amounts_are_422_and_write_nothing(
    client: httpx.Client, db: psycopg.Connection, student_with_ten: Account, amount: Any
) -> None:
    response = spend(client, student_with_ten, {"amount": amount, "reason": "quiz"}, new_key())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert "amount" in body["error"]
    _assert_untouched(db, student_with_ten)


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 1},
        {"reason": "quiz"},
        {"amount": 1, "reason": ""},
        {"amount": 1, "reason": "   "},
        {"amount": 1, "reason": "x" * 201},
        {"amount": 1, "reason": 7},
        {"amount": 1, "reason": "quiz\u0000"},
        {"amount": 1, "reason": "\u0000"},
    ],
    ids=["no-reason", "no-amount", "empty", "blank", "too-long", "not-a-string", "nul", "only-nul"],
)
def test_bad_bodies_are_422_and_write_nothing(
    client: httpx.Client, db: psycopg.Connection, student_with_ten: Account, body: Any
) -> None:
    response = spend(client, student_with_ten, body, new_key())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    _assert_untouched(db, student_with_ten)


def test_a_nul_in_the_reason_is_named_in_the_422(
    client: httpx.Client, db: psycopg.Connection, student_with_ten: Account
) -> None:
    # Sent as the raw JSON escape, exactly as a client would.
    response = client.post(
        "/api/credits/spend",
        content=b'{"amount": 1, "reason": "voice\\u0000tutoring"}',
        headers=spend_headers(student_with_ten, new_key()) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "reason: must not contain NUL (\\u0000) characters",
        "code": "validation_error",
    }
    _assert_untouched(db, student_with_ten)


def test_a_body_that_is_not_json_is_refused_and_writes_nothing(
    client: httpx.Client, db: psycopg.Connection, student_with_ten: Account
) -> None:
    headers = spend_headers(student_with_ten, new_key()) | {"content-type": "application/json"}
    response = client.post("/api/credits/spend", content=b'{"amount": 1,', headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    _assert_untouched(db, student_with_ten)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "idempotency_key_required"),
        ("", "idempotency_key_required"),
        ("short", "invalid_idempotency_key"),
        ("seven77", "invalid_idempotency_key"),
        ("has a space", "invalid_idempotency_key"),
        ("tab\there-123", "invalid_idempotency_key"),
        ("k" * 256, "invalid_idempotency_key"),
    ],
    ids=["missing", "empty", "short", "seven", "space", "tab", "too-long"],
)
def test_a_missing_or_malformed_key_is_400_and_writes_nothing(
    client: httpx.Client,
    db: psycopg.Connection,
    student_with_ten: Account,
    key: str | None,
    code: str,
) -> None:
    response = spend(client, student_with_ten, {"amount": 1, "reason": "quiz"}, key)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    _assert_untouched(db, student_with_ten)


def test_a_non_ascii_key_is_400(
    client: httpx.Client, db: psycopg.Connection, student_with_ten: Account
) -> None:
    headers = [
        ("Authorization", f"Bearer {student_with_ten.token}"),
        ("Idempotency-Key", "clé-12345678"),
    ]
    response = client.post(
        "/api/credits/spend",
        json={"amount": 1, "reason": "quiz"},
        headers=[(name.encode(), value.encode("latin-1")) for name, value in headers],
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    _assert_untouched(db, student_with_ten)


def test_keys_of_the_boundary_lengths_are_accepted(
    client: httpx.Client, student_with_ten: Account
) -> None:
    for key in ("abcdefg8", "~" * 255, "!#$%&'*+-.^_`|~09AZaz"):
        response = spend(client, student_with_ten, {"amount": 1, "reason": "quiz"}, key)
        assert response.status_code == 201, (key, response.text)


def test_only_students_spend(
    client: httpx.Client, db: psycopg.Connection, instructor: Account, admin: Account
) -> None:
    keys_before = key_count_any(db)
    for account in (instructor, admin):
        response = spend(client, account, {"amount": 1, "reason": "quiz"}, new_key())
        assert response.status_code == 403
        assert response.json()["code"] == "student_only"
    assert key_count_any(db) == keys_before
    anonymous = client.post(
        "/api/credits/spend",
        json={"amount": 1, "reason": "quiz"},
        headers={"Idempotency-Key": new_key()},
    )
    assert anonymous.status_code == 401
    forged = client.post(
        "/api/credits/spend",
        json={"amount": 1, "reason": "quiz"},
        headers={"Idempotency-Key": new_key(), "Authorization": "Bearer not.a.token"},
    )
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_token"


def key_count_any(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM idempotency_keys").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def student_with_ten(new_student: NewStudent) -> Account:
    return new_student(balance=10)


def _assert_untouched(db: psycopg.Connection, student: Account) -> None:
    assert entry_count(db, student.id, "USAGE") == 0
    assert key_count(db, student.id) == 0
    assert ledger_balance(db, student.id) == (10, 10)
