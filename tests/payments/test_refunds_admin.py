"""POST /api/admin/payments/{id}/refunds end to end: the app over HTTP, the Stripe emulator
through the SDK, its signed webhooks delivered to the app. After every scenario the rule
min(C, ceil(C*R/A)) holds for the payment and the audit is clean (`invariants`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, settle_webhooks, stripe_client
from tests.credits.factory import new_key as spend_key
from tests.credits.factory import spend_headers
from tests.payments.returns_support import (
    admin_refund,
    assert_rule_holds,
    buy_and_pay,
    new_key,
    payment_row,
    refund_rows,
    return_entries,
)
from tests.support.accounts import Account
from tests.support.live_server import free_port
from tests.support.mailbox import Mailbox
from tests.support.tiers import BOTH_TIERS


@BOTH_TIERS
def test_full_refund_takes_back_every_credit(
    tier: str,
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert balance(db, student.id) == before + 100

    response = admin_refund(client, admin, paid.payment_id, reason="requested_by_customer",
                            note="changed their mind")  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("re_")
    assert (body["paymentId"], body["amount"], body["status"]) == (
        paid.payment_id, 1000, "SUCCEEDED",
    )  # fmt: skip
    assert body["creditsClawedBack"] == 100
    assert body["createdAt"]
    # Taken back in the transaction that recorded the refund, before any webhook.
    assert balance(db, student.id) == before

    settle_webhooks(stripe_emulator)  # refund.created and charge.refunded: nothing more moves
    assert balance(db, student.id) == before
    row = assert_rule_holds(db, paid, returned=1000)
    assert row["status"] == "REFUNDED"
    (entry,) = return_entries(db, paid.payment_id)
    assert (entry["entry_type"], entry["amount"], entry["source_type"]) == ("DEBIT", 100, "REFUND")
    assert entry["actor_id"] == admin.id  # the acting admin is on the ledger entry
    (refund,) = refund_rows(db, paid.payment_id)
    assert (refund["stripe_refund_id"], refund["note"]) == (body["id"], "changed their mind")
    assert str(refund["actor_id"]) == admin.id

    shown = client.get(f"/api/payments/{paid.payment_id}", headers=student.headers).json()
    assert (shown["status"], shown["amountRefunded"], shown["creditsClawedBack"]) == (
        "REFUNDED", 1000, 100,
    )  # fmt: skip
    assert [r["id"] for r in shown["refunds"]] == [body["id"]]
    assert shown["refunds"][0]["creditsClawedBack"] == 100
    assert shown["dispute"] is None
    notice = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "Credits Taken Back" in str(m["Subject"])
    )[0]
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "£10.00" in text
    assert "100 credits" in text
    assert f"New balance: {before}" in text

    # Nothing is left to refund.
    again = admin_refund(client, admin, paid.payment_id)
    assert again.status_code == 422
    assert again.json()["code"] == "amount_not_refundable"
    assert again.json()["refundableAmount"] == 0


def test_three_partial_refunds_add_up_to_the_whole(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    shares = []
    returned = 0
    for amount in (333, 333, 334):
        response = admin_refund(client, admin, paid.payment_id, amount=amount)
        assert response.status_code == 201, response.text
        shares.append(response.json()["creditsClawedBack"])
        returned += amount
        settle_webhooks(stripe_emulator)
        assert_rule_holds(db, paid, returned=returned)
    # ceil(33.3) = 34, then ceil(66.6) - 34 = 33, then 100 - 67 = 33: never more than bought.
    assert shares == [34, 33, 33]
    assert sum(shares) == 100
    assert balance(db, student.id) == before
    assert payment_row(db, paid.payment_id)["status"] == "REFUNDED"
    shown = client.get(f"/api/payments/{paid.payment_id}", headers=admin.headers).json()
    assert [r["creditsClawedBack"] for r in shown["refunds"]] == [34, 33, 33]


def test_refund_after_the_credits_were_spent(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    start = balance(db, student.id)  # welcome bonus + 100
    spent = client.post(
        "/api/credits/spend",
        json={"amount": start - 50, "reason": "voice tutoring"},
        headers=spend_headers(student, spend_key()),
    )
    assert spent.status_code == 201, spent.text
    assert balance(db, student.id) == 50

    refused = admin_refund(client, admin, paid.payment_id)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "credits_already_spent"
    # 50 credits may still go back: 50 of 100 credits is 500 of 1000 pence.
    assert body["refundableWithoutNegativeBalance"] == 500
    assert (
        stripe_client(stripe_emulator)
        .v1.refunds.list(params={"payment_intent": paid.payment_intent})
        .data
        == []
    )  # nothing reached Stripe
    assert balance(db, student.id) == 50

    allowed = admin_refund(client, admin, paid.payment_id, allowNegativeBalance=True)
    assert allowed.status_code == 201, allowed.text
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == -50
    assert_rule_holds(db, paid, returned=1000)

    blocked = client.post("/api/credits/spend", json={"amount": 1, "reason": "voice tutoring"},
                          headers=spend_headers(student, spend_key()))  # fmt: skip
    assert blocked.status_code == 402
    assert blocked.json()["code"] == "insufficient_credits"
    topped_up = client.post(
        f"/api/admin/students/{student.id}/credit-adjustments",
        json={"amount": 60, "reason": "goodwill top-up"},
        headers=admin.headers,
    )
    assert topped_up.status_code == 201, topped_up.text
    assert balance(db, student.id) == 10
    works = client.post("/api/credits/spend", json={"amount": 10, "reason": "voice tutoring"},
                        headers=spend_headers(student, spend_key()))  # fmt: skip
    assert works.status_code == 201, works.text
    assert works.json()["balanceAfter"] == 0


def test_the_same_idempotency_key_refunds_once(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    key = new_key()
    first = admin_refund(client, admin, paid.payment_id, key=key, amount=1000)
    assert first.status_code == 201, first.text
    again = admin_refund(client, admin, paid.payment_id, key=key, amount=1000)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers.get("Idempotent-Replayed") == "true"
    settle_webhooks(stripe_emulator)
    refunds = stripe_client(stripe_emulator).v1.refunds.list(
        params={"payment_intent": paid.payment_intent}
    )
    assert [r.id for r in refunds.data] == [first.json()["id"]]  # one refund at Stripe
    assert_rule_holds(db, paid, returned=1000)
    assert balance(db, student.id) == before + 500 - 112  # ceil(500 * 1000 / 4500) = 112

    other = admin_refund(client, admin, paid.payment_id, key=key, amount=500)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert len(refund_rows(db, paid.payment_id)) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 1001}, 422, "amount_not_refundable"),
        ({"amount": 0}, 422, "validation_error"),
        ({"amount": -5}, 422, "validation_error"),
        ({"amount": 5.5}, 422, "validation_error"),
        ({"amount": "100"}, 422, "validation_error"),
        ({"amount": True}, 422, "validation_error"),
        ({"reason": "because"}, 422, "validation_error"),
        ({"note": "x" * 501}, 422, "validation_error"),
        ({"note": "nul \u0000"}, 422, "validation_error"),
        ({"allowNegativeBalance": "yes"}, 422, "validation_error"),
    ],
)
def test_bad_refund_requests_change_nothing(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
    body: dict[str, Any], status: int, code: str,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    response = admin_refund(client, admin, paid.payment_id, **body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if code == "amount_not_refundable":
        assert response.json()["refundableAmount"] == 1000
    assert refund_rows(db, paid.payment_id) == []
    assert balance(db, student.id) == before
    assert payment_row(db, paid.payment_id)["status"] == "SUCCEEDED"


def test_refunds_are_for_admins_and_known_payments(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert admin_refund(client, student, paid.payment_id).status_code == 403
    anonymous = client.post(f"/api/admin/payments/{paid.payment_id}/refunds", json={})
    assert anonymous.status_code == 401
    for junk in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = admin_refund(client, admin, junk)
        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"
    bad_key = admin_refund(client, admin, paid.payment_id, key="short")
    assert bad_key.status_code == 400
    assert bad_key.json()["code"] == "invalid_idempotency_key"
    assert refund_rows(db, paid.payment_id) == []


def test_stripe_down_during_a_refund_is_502_and_nothing_is_written(
    build_app: Callable[..., Any], serve: Callable[[Any], Any], student: Account, admin: Account,
    client: httpx.Client, packages: dict[str, Any], stripe_emulator: EmulatorServer,
    db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    down = build_app(stripe_api_base=f"http://127.0.0.1:{free_port()}", stripe_timeout_seconds=2)
    with serve(down).client() as http:
        response = admin_refund(http, admin, paid.payment_id, key=new_key())
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "stripe_unavailable"
    assert refund_rows(db, paid.payment_id) == []
    assert return_entries(db, paid.payment_id) == []
    assert balance(db, student.id) == before
    assert payment_row(db, paid.payment_id)["status"] == "SUCCEEDED"


def test_a_refund_stripe_refuses_is_explained(
    build_app: Callable[..., Any], serve: Callable[[Any], Any], student: Account, admin: Account,
    client: httpx.Client, packages: dict[str, Any], stripe_emulator: EmulatorServer,
    db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    wrong_key = build_app(stripe_secret_key=SecretStr("sk_wrong"))
    with serve(wrong_key).client() as http:
        response = admin_refund(http, admin, paid.payment_id)
    assert response.status_code == 502
    assert response.json()["code"] == "stripe_error"
    assert refund_rows(db, paid.payment_id) == []


def test_credits_held_for_a_live_call_count_as_spent(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    start = balance(db, student.id)  # welcome bonus + 100
    held = client.post(
        "/api/credits/holds",
        json={"amount": start - 30, "reason": "voice call"},
        headers=spend_headers(student, spend_key()),
    )
    assert held.status_code == 201, held.text
    refused = admin_refund(client, admin, paid.payment_id)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "credits_already_spent"
    assert refused.json()["refundableWithoutNegativeBalance"] == 300  # 30 credits available
    assert refund_rows(db, paid.payment_id) == []
    assert balance(db, student.id) == start
