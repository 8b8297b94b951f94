"""Buying each package end to end: checkout over HTTP, Stripe (the emulator) over the SDK, the
hosted page paid by card, the real signed webhook, the ledger, the payment and the receipt."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    DECLINED_CARD,
    assert_not_paid,
    assert_paid_once,
    balance,
    inbox_for_session,
    receipts,
    retrieve_session,
    session_row,
    settle_webhooks,
    start_checkout,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox, html_body, text_body
from tests.support.tiers import BOTH_TIERS


@pytest.mark.parametrize(
    ("key", "credits", "pence", "shown"),
    [("starter", 100, 1000, "£10.00"), ("value", 500, 4500, "£45.00"),
     ("premium", 1000, 8000, "£80.00")],
)  # fmt: skip
@BOTH_TIERS
def test_buy_each_package(
    tier: str,
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
    key: str, credits: int, pence: int, shown: str,
) -> None:  # fmt: skip
    package = packages[key]
    before = balance(db, student.id)
    created = start_checkout(client, student, package["id"])
    assert created["amount"] == pence
    assert created["credits"] == credits
    assert created["currency"] == "GBP"
    assert created["sessionId"].startswith("cs_")
    assert created["sessionUrl"].startswith(stripe_emulator.url)
    row = session_row(db, created["sessionId"])
    assert row["status"] == "PENDING"
    assert (row["credits"], row["amount_pence"], row["currency"]) == (credits, pence, "GBP")
    assert str(row["package_id"]) == package["id"]
    assert row["package_name"] == package["name"]

    # What Stripe was asked for: our catalogue's amount, the student, the URLs, 24 hours.
    remote = retrieve_session(stripe_emulator, created["sessionId"])
    assert remote["mode"] == "payment"
    assert remote["currency"] == "gbp"
    assert remote["amount_total"] == pence
    assert remote["client_reference_id"] == student.id
    assert remote["metadata"] == {"student_id": student.id, "package_id": package["id"],
                                  "credits": str(credits)}  # fmt: skip
    assert (
        remote["success_url"]
        == "http://frontend.test/credits/success?session_id={CHECKOUT_SESSION_ID}"
    )
    assert remote["cancel_url"] == "http://frontend.test/credits/cancel"
    assert 23 * 3600 < remote["expires_at"] - remote["created"] <= 24 * 3600
    assert remote["customer"]

    stripe_emulator.pay(created["sessionId"])
    settle_webhooks(stripe_emulator)

    assert balance(db, student.id) == before + credits
    payment = assert_paid_once(db, student.id, created["sessionId"], credits, pence)
    events = inbox_for_session(db, created["sessionId"])
    completed = [e for e in events if e["type"] == "checkout.session.completed"]
    assert [e["outcome"] for e in completed] == ["fulfilled"]
    assert all(e["processed_at"] is not None for e in events)

    status = client.get(
        f"/api/payments/checkout-status/{created['sessionId']}", headers=student.headers
    ).json()
    assert status["status"] == "COMPLETED"
    assert status["credits"] == credits
    assert status["amount"] == pence
    assert status["completedAt"] is not None

    me = client.get("/api/me", headers=student.headers).json()
    assert me["creditBalance"] == before + credits

    mail = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "Payment Successful" in str(m["Subject"])
    )
    assert len(mail) == 1
    receipt = mail[0]
    assert receipt["Subject"] == f"Payment Successful - {credits} Credits Added"
    for body in (text_body(receipt), html_body(receipt)):
        assert package["name"] in body
        assert str(credits) in body
        assert shown in body
        assert "http://frontend.test/dashboard" in body
    paid = db.execute(
        "SELECT receipt_sent_at FROM payments WHERE id = %s", (payment["id"],)
    ).fetchone()
    assert paid is not None
    # The receipt is marked sent after the SMTP server accepted it; give the commit a moment.
    from tests.checkout.support import wait_until

    wait_until(
        lambda: (
            db.execute(
                "SELECT receipt_sent_at IS NOT NULL FROM payments WHERE id = %s", (payment["id"],)
            ).fetchone()
            == (True,)
        ),
        what="receipt_sent_at",
    )


def test_declined_card_credits_nothing(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    created = start_checkout(client, student, packages["starter"]["id"])
    from stripe_emulator.client import EmulatorError

    with pytest.raises(EmulatorError) as declined:
        stripe_emulator.pay(created["sessionId"], card=DECLINED_CARD)
    assert declined.value.status_code == 402
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before
    assert_not_paid(db, created["sessionId"])
    assert session_row(db, created["sessionId"])["status"] == "PENDING"
    status = client.get(
        f"/api/payments/checkout-status/{created['sessionId']}", headers=student.headers
    ).json()
    assert status["status"] == "PENDING"
    assert receipts(mailbox, student.email) == []
