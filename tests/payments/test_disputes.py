"""Disputes (chargebacks) end to end: the bank opens one in the emulator, its signed events
reach the app, the credits follow the funds: withdrawn -> taken back, reinstated (won) ->
returned with a new CREDIT entry. The audit is clean after every scenario (`invariants`)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, settle_webhooks
from tests.payments.returns_support import (
    admin_refund,
    assert_rule_holds,
    buy_and_pay,
    events_of,
    payment_row,
    return_entries,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.tiers import BOTH_TIERS


def _shown(client: httpx.Client, account: Account, payment_id: str) -> dict[str, Any]:
    response = client.get(f"/api/payments/{payment_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@BOTH_TIERS
def test_a_lost_dispute_takes_the_credits_back_for_good(
    tier: str,
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent, reason="fraudulent")
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 100
    assert assert_rule_holds(db, paid, returned=1000)["status"] == "DISPUTED"
    shown = _shown(client, student, paid.payment_id)
    assert shown["dispute"] == {
        "id": dispute["id"], "amount": 1000, "status": "needs_response",
        "reason": "fraudulent", "fundsWithdrawn": 1000,
    }  # fmt: skip
    # No refund of a payment under dispute: the bank has the money.
    refused = admin_refund(client, admin, paid.payment_id)
    assert refused.status_code == 409
    assert refused.json()["code"] == "payment_disputed"

    stripe_emulator.close_dispute(dispute["id"], "lost")
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 100
    assert assert_rule_holds(db, paid, returned=1000)["status"] == "DISPUTE_LOST"
    (entry,) = return_entries(db, paid.payment_id)
    assert (entry["entry_type"], entry["amount"], entry["source_type"]) == (
        "DEBIT", 100, "DISPUTE",
    )  # fmt: skip
    assert _shown(client, admin, paid.payment_id)["dispute"]["status"] == "lost"
    assert admin_refund(client, admin, paid.payment_id).json()["code"] == "payment_disputed"


@BOTH_TIERS
def test_a_won_dispute_gives_the_credits_back_once(
    tier: str,
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    before = balance(db, student.id)
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent)
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 500
    stripe_emulator.close_dispute(dispute["id"], "won")
    settle_webhooks(stripe_emulator)
    # Every dispute event again: nothing moves twice.
    for event in events_of(stripe_emulator, paid):
        stripe_emulator.resend(event["id"])
    settle_webhooks(stripe_emulator)

    assert balance(db, student.id) == before
    row = assert_rule_holds(db, paid, returned=0)
    assert (row["status"], row["amount_disputed_pence"]) == ("SUCCEEDED", 0)
    entries = return_entries(db, paid.payment_id)
    assert [(e["entry_type"], e["amount"], e["source_type"]) for e in entries] == [
        ("DEBIT", 500, "DISPUTE"),
        ("CREDIT", 500, "DISPUTE"),
    ]
    returned = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "500 Credits Returned" in str(m["Subject"])
    )
    assert len(returned) == 1


def test_a_dispute_on_a_partially_refunded_payment(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    assert admin_refund(client, admin, paid.payment_id, amount=400).status_code == 201
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 40

    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent)  # the 600 left
    assert dispute["amount"] == 600
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 100
    assert assert_rule_holds(db, paid, returned=1000)["status"] == "DISPUTED"

    stripe_emulator.close_dispute(dispute["id"], "won")
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 40
    row = assert_rule_holds(db, paid, returned=400)
    assert row["status"] == "PARTIALLY_REFUNDED"  # a won dispute: back to what refunds say
    assert payment_row(db, paid.payment_id)["amount_refunded_pence"] == 400
