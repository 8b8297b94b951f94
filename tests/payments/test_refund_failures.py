"""Refunds that fail after succeeding (Stripe's test card 4000 0000 0000 5126) and cards that
are disputed after payment (4000 0000 0000 0259), end to end with the emulator's events."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    balance,
    inbox,
    make_event,
    payments_for,
    post_event,
    purchase_entries,
    retrieve_session,
    session_row,
    settle_webhooks,
    start_checkout,
    stripe_client,
    stripe_events,
    webhooks_paused,
)
from tests.payments.returns_support import (
    admin_refund,
    assert_rule_holds,
    buy_and_pay,
    events_of,
    payment_row,
    refund_rows,
    return_entries,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox

REFUND_FAILS = "4000000000005126"
DISPUTED_AFTER_PAYMENT = "4000000000000259"


def test_a_refund_that_fails_after_succeeding_gives_the_credits_back_once(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"], REFUND_FAILS)
    before = balance(db, student.id)
    refunded = admin_refund(client, admin, paid.payment_id)
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["status"] == "SUCCEEDED"  # first it succeeds...
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 100
    charge_refunded = next(
        e for e in events_of(stripe_emulator, paid) if e["type"] == "charge.refunded"
    )

    stripe_emulator.advance_clock(120)  # ...then the bank sends it back
    settle_webhooks(stripe_emulator)
    assert {"refund.failed", "refund.updated"} <= {
        e["type"] for e in events_of(stripe_emulator, paid)
    }
    assert balance(db, student.id) == before
    row = assert_rule_holds(db, paid, returned=0)
    assert row["status"] == "SUCCEEDED"
    (refund,) = refund_rows(db, paid.payment_id)
    assert refund["status"] == "failed"
    assert refund["failure_reason"]
    assert [(e["entry_type"], e["amount"]) for e in return_entries(db, paid.payment_id)] == [
        ("DEBIT", 100),
        ("CREDIT", 100),
    ]
    assert mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "100 Credits Returned" in str(m["Subject"])
    )

    # The old charge.refunded (which says the refund succeeded) arrives late, re-sent under a
    # new id, and every event once more: the failure stands, nothing moves.
    stale = make_event("charge.refunded", charge_refunded["data"]["object"])
    assert post_event(client, stale).status_code == 200
    for event in events_of(stripe_emulator, paid):
        stripe_emulator.resend(event["id"])
    settle_webhooks(stripe_emulator)
    stored = inbox(db, stale["id"])
    assert stored is not None
    assert stored["outcome"] == "returns_unchanged"
    assert balance(db, student.id) == before
    assert_rule_holds(db, paid, returned=0)
    assert len(return_entries(db, paid.payment_id)) == 2
    shown = client.get(f"/api/payments/{paid.payment_id}", headers=student.headers).json()
    assert (shown["status"], shown["amountRefunded"]) == ("SUCCEEDED", 0)
    assert shown["refunds"][0]["status"] == "FAILED"

    # What failed can be refunded again.
    again = admin_refund(client, admin, paid.payment_id, amount=500)
    assert again.status_code == 201, again.text
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 50


def test_a_refund_failed_at_once_through_the_control_api(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"], REFUND_FAILS)
    before = balance(db, student.id)
    refund = stripe_emulator.refund(payment_intent=paid.payment_intent, amount=900)  # Dashboard
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before - 100  # ceil(500 * 900 / 4500)
    stripe_emulator.fail_refund(refund["id"])
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before
    assert_rule_holds(db, paid, returned=0)
    assert payment_row(db, paid.payment_id)["status"] == "SUCCEEDED"


def test_a_card_disputed_after_payment(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    paid = buy_and_pay(
        client, stripe_emulator, db, student, packages["starter"], DISPUTED_AFTER_PAYMENT
    )
    settle_webhooks(stripe_emulator)
    # Credited by the purchase, then taken back when the dispute withdrew the funds.
    assert balance(db, student.id) == before
    assert assert_rule_holds(db, paid, returned=1000)["status"] == "DISPUTED"
    shown = client.get(f"/api/payments/{paid.payment_id}", headers=admin.headers).json()
    assert shown["dispute"]["reason"] == "fraudulent"
    stripe_emulator.submit_dispute_evidence(shown["dispute"]["id"])
    settle_webhooks(stripe_emulator)
    shown = client.get(f"/api/payments/{paid.payment_id}", headers=admin.headers).json()
    assert (shown["status"], shown["dispute"]["status"]) == ("DISPUTED", "under_review")
    assert balance(db, student.id) == before


def test_a_dispute_that_beats_the_purchase_webhook_fulfils_the_purchase_first(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id, card=DISPUTED_AFTER_PAYMENT)
    intent = retrieve_session(stripe_emulator, session_id)["payment_intent"]
    listed = stripe_client(stripe_emulator).v1.events.list(params={"limit": 100}).data
    disputes = [
        e.id for e in reversed(listed)
        if e.type.startswith("charge.dispute.") and e.data.object["payment_intent"] == intent
    ]  # fmt: skip
    assert disputes
    for event_id in disputes:  # the dispute's events arrive; the purchase's have not
        stripe_emulator.resend(event_id)
    settle_webhooks(stripe_emulator)

    def bought_once() -> dict[str, Any]:
        assert [e[1:3] for e in purchase_entries(db, session_id)] == [("CREDIT", 100)]
        (payment,) = payments_for(db, session_id)
        assert session_row(db, session_id)["status"] == "COMPLETED"
        return payment

    payment = bought_once()
    assert balance(db, student.id) == before  # bought and taken back, together
    assert payment_row(db, str(payment["id"]))["status"] == "DISPUTED"
    # The purchase's own events, late: fulfilled already, nothing more.
    for event_id in stripe_events(stripe_emulator, session_id, "checkout.session.completed"):
        stripe_emulator.resend(event_id)
    settle_webhooks(stripe_emulator)
    bought_once()
    assert balance(db, student.id) == before
