"""GET /api/payments/{id}: the owner and admins see it; anyone else, and junk ids, get 404."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import assert_paid_once, settle_webhooks, start_checkout
from tests.support.accounts import Account, sign_up
from tests.support.mailbox import Mailbox


def test_payment_record(
    client: httpx.Client, student: Account, admin: Account, instructor: Account,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["premium"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    payment = assert_paid_once(db, student.id, session_id, 1000, 8000)
    path = f"/api/payments/{payment['id']}"

    mine = client.get(path, headers=student.headers)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["id"] == str(payment["id"])
    assert body["studentId"] == student.id
    assert (body["type"], body["status"], body["currency"]) == ("CREDITS", "SUCCEEDED", "GBP")
    assert (body["amount"], body["amountRefunded"], body["credits"]) == (8000, 0, 1000)
    assert body["packageName"] == packages["premium"]["name"]
    assert body["stripeCheckoutSessionId"] == session_id
    assert body["stripePaymentIntentId"].startswith("pi_")
    assert body["paidAt"]

    as_admin = client.get(path, headers=admin.headers)
    assert as_admin.status_code == 200
    assert {k: as_admin.json()[k] for k in ("id", "studentId", "amount", "credits")} == {
        k: body[k] for k in ("id", "studentId", "amount", "credits")
    }
    stranger = sign_up(client, mailbox, role="student")
    for headers in (stranger.headers, instructor.headers):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "payment_not_found"
    assert client.get(path).status_code == 401
    unknown = client.get(f"/api/payments/{uuid.uuid4()}", headers=admin.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "payment_not_found")
    for junk in ("not-a-uuid", "123"):  # not an id at all: no such route
        response = client.get(f"/api/payments/{junk}", headers=admin.headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
