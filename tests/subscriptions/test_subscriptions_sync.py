"""Our status follows Stripe's: a subscription canceled at Stripe (the Dashboard) is CANCELED
here, and a subscription's Checkout Session that expires unpaid frees the student to subscribe
again."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance, make_event, post_event, settle_webhooks
from tests.subscriptions.support import (
    create_plan,
    current,
    period_grants,
    sdk,
    stripe_subscription_of,
    subscribe,
)
from tests.support.accounts import Account

pytestmark = pytest.mark.usefixtures("invariants")


def test_a_subscription_canceled_at_stripe_is_canceled_here_and_keeps_its_credits(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    plan = create_plan(client, admin, creditsPerPeriod=90)
    session_id = subscribe(client, stripe_emulator, student, plan["id"])["sessionId"]
    stripe_sub = stripe_subscription_of(stripe_emulator, session_id)
    sdk(stripe_emulator).v1.subscriptions.cancel(stripe_sub.id)
    settle_webhooks(stripe_emulator)
    assert current(client, student).json()["status"] == "CANCELED"
    assert balance(db, student.id) == before + 90
    assert len(period_grants(db, student.id)) == 1
    # Free to subscribe again.
    again = client.post(
        "/api/subscriptions/checkout", json={"planId": plan["id"]}, headers=student.headers
    )
    assert again.status_code == 201, again.text


def test_an_expired_subscription_checkout_frees_the_student(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin)
    session_id = subscribe(client, stripe_emulator, student, plan["id"], pay=False)["sessionId"]
    assert current(client, student).json()["status"] == "INCOMPLETE"
    stripe_emulator.expire(session_id)
    settle_webhooks(stripe_emulator)
    assert current(client, student).json()["status"] == "CANCELED"
    again = client.post(
        "/api/subscriptions/checkout", json={"planId": plan["id"]}, headers=student.headers
    )
    assert again.status_code == 201, again.text
    assert current(client, student).json()["status"] == "INCOMPLETE"


def test_a_payment_failure_reported_after_the_invoice_was_paid_changes_nothing(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin)
    session_id = subscribe(client, stripe_emulator, student, plan["id"])["sessionId"]
    invoice = (
        sdk(stripe_emulator)
        .v1.invoices.retrieve(stripe_subscription_of(stripe_emulator, session_id).latest_invoice)
        .to_dict()
    )
    late = {**invoice, "status": "open", "attempt_count": 1}  # as it was at a failed attempt
    payload = json.dumps(make_event("invoice.payment_failed", late), default=str).encode()
    answered = post_event(client, payload)
    assert answered.status_code == 200
    assert current(client, student).json()["status"] == "ACTIVE"
    (outcome,) = db.execute(
        "SELECT outcome FROM webhook_events WHERE id = %s", (json.loads(payload)["id"],)
    ).fetchone() or (None,)
    assert outcome == "stale: the invoice has been paid since"
