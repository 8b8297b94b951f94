"""GET /api/payments (a student's own, newest first, paginated) and GET /api/admin/payments
(everyone's, filtered by student, status and dates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import settle_webhooks
from tests.payments.returns_support import admin_refund, buy_and_pay
from tests.support.accounts import Account, sign_up
from tests.support.mailbox import Mailbox


def test_a_student_pages_through_their_own_payments(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    bought = [
        buy_and_pay(client, stripe_emulator, db, student, packages[name])
        for name in ("starter", "value", "premium")
    ]
    assert admin_refund(client, admin, bought[0].payment_id, amount=100).status_code == 201
    settle_webhooks(stripe_emulator)
    other = sign_up(client, mailbox, role="student")
    buy_and_pay(client, stripe_emulator, db, other, packages["starter"])

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/payments", params=params, headers=student.headers)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert [p["id"] for p in seen] == [b.payment_id for b in reversed(bought)]  # newest first
    assert {p["studentId"] for p in seen} == {student.id}
    oldest = seen[-1]
    assert (oldest["status"], oldest["amountRefunded"], len(oldest["refunds"])) == (
        "PARTIALLY_REFUNDED", 100, 1,
    )  # fmt: skip
    assert client.get("/api/payments", headers=admin.headers).status_code == 403
    bad = client.get("/api/payments", params={"cursor": "nope"}, headers=student.headers)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


def test_admins_filter_every_payment(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    refunded = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    kept = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert admin_refund(client, admin, refunded.payment_id).status_code == 201

    def ids(**params: Any) -> list[str]:
        response = client.get("/api/admin/payments", params=params | {"limit": 100},
                              headers=admin.headers)  # fmt: skip
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids(studentId=student.id) == [kept.payment_id, refunded.payment_id]
    assert ids(studentId=student.id, status="REFUNDED") == [refunded.payment_id]
    assert ids(studentId=student.id, status="succeeded") == [kept.payment_id]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert ids(studentId=student.id, **{"from": later}) == []
    assert ids(studentId=student.id, to=later) == [kept.payment_id, refunded.payment_id]
    unknown = client.get("/api/admin/payments", params={"status": "LOST"}, headers=admin.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "validation_error")
    assert client.get("/api/admin/payments", headers=student.headers).status_code == 403
    preview = client.get(f"/api/admin/payments/{kept.payment_id}/refund-preview",
                         params={"amount": 500}, headers=admin.headers)  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert (preview.json()["creditsToClawBack"], preview.json()["refundableAmount"]) == (50, 1000)
