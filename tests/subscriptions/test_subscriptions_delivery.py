"""Exactly once per paid invoice (invariant 13) whatever the deliveries do: invoice.paid before,
after or without checkout.session.completed (which grants nothing for a subscription),
duplicated and shuffled, or many distinct events about one invoice at the same moment."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import (
    balance,
    make_event,
    settle_webhooks,
    sign,
    webhook_faults,
    webhooks_paused,
)
from tests.conftest import WEBHOOK_PATH
from tests.subscriptions.support import (
    create_plan,
    current,
    events_of,
    period_grants,
    sdk,
    stripe_subscription_of,
    subscribe,
    subscription_entries,
)
from tests.support.accounts import Account
from tests.support.tiers import NewClient

pytestmark = pytest.mark.usefixtures("invariants")


def _paid_in_silence(
    client: httpx.Client, emulator: Any, app_url: str, student: Account, plan_id: str
) -> tuple[str, Any]:
    """Subscribe and pay with no webhook reaching the app; (session id, Stripe subscription)."""
    with webhooks_paused(emulator, app_url):
        session_id = subscribe(client, emulator, student, plan_id, pay=False)["sessionId"]
        emulator.pay(session_id)
        settle_webhooks(emulator)
    return session_id, stripe_subscription_of(emulator, session_id)


@pytest.mark.parametrize("order", ["invoice_first", "completed_first", "invoice_only"])
def test_the_first_period_is_granted_once_in_any_order(
    order: str, client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    app_url: str, db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=300, priceMinor=1200)
    before = balance(db, student.id)
    session_id, stripe_sub = _paid_in_silence(client, stripe_emulator, app_url, student,
                                              plan["id"])  # fmt: skip
    assert balance(db, student.id) == before
    assert db.execute(
        "SELECT status FROM subscriptions WHERE student_id = %s", (student.id,)
    ).fetchone() == ("INCOMPLETE",)
    (paid,) = events_of(stripe_emulator, "invoice.paid", stripe_sub.latest_invoice)
    (completed,) = events_of(stripe_emulator, "checkout.session.completed", session_id)
    sequence = {
        "invoice_first": [paid, completed],
        "completed_first": [completed, paid],
        "invoice_only": [paid],
    }[order]
    for event_id in sequence:
        stripe_emulator.resend(event_id)
        settle_webhooks(stripe_emulator)
        if event_id == completed:  # the session alone grants nothing
            grants = period_grants(db, student.id)
            assert balance(db, student.id) == before + 300 * len(grants)

    assert balance(db, student.id) == before + 300
    [grant] = period_grants(db, student.id)
    assert grant["stripe_invoice_id"] == stripe_sub.latest_invoice
    row = db.execute(
        "SELECT status, stripe_subscription_id FROM subscriptions WHERE student_id = %s",
        (student.id,),
    ).fetchone()
    assert row == ("ACTIVE", stripe_sub.id)  # linked by the invoice itself when it came first


def test_duplicated_and_shuffled_deliveries_grant_once(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    app_url: str, db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=250, priceMinor=999)
    before = balance(db, student.id)
    with webhook_faults(stripe_emulator, app_url, duplicate_probability=1.0, shuffle_window=8):
        subscribe(client, stripe_emulator, student, plan["id"])
    assert balance(db, student.id) == before + 250
    assert subscription_entries(db, student.id) == 1
    assert current(client, student).json()["status"] == "ACTIVE"


def test_many_distinct_events_about_one_invoice_at_once_grant_once(
    new_client: NewClient, client: httpx.Client, admin: Account, student: Account,
    stripe_emulator: Any, app_url: str, db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=400, priceMinor=2000)
    before = balance(db, student.id)
    _, stripe_sub = _paid_in_silence(client, stripe_emulator, app_url, student, plan["id"])
    invoice = sdk(stripe_emulator).v1.invoices.retrieve(stripe_sub.latest_invoice).to_dict()
    # Twelve events with their own ids (the inbox cannot merge them): only the invoice's
    # UNIQUE claim stands between them and twelve grants.
    payloads = [
        json.dumps(make_event(kind, invoice), default=str).encode()
        for kind in ["invoice.paid", "invoice.payment_succeeded"] * 6
    ]

    def deliver(payload: bytes) -> int:
        with new_client() as http:
            return http.post(
                WEBHOOK_PATH, content=payload,
                headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
            ).status_code  # fmt: skip

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(deliver, payloads))
    assert statuses == [200] * 12
    assert balance(db, student.id) == before + 400
    assert subscription_entries(db, student.id) == 1
    outcomes = [
        o for (o,) in db.execute(
            "SELECT outcome FROM webhook_events WHERE id = ANY(%s)",
            ([json.loads(p)["id"] for p in payloads],),
        ).fetchall()
    ]  # fmt: skip
    assert sorted(outcomes).count("subscription_credited") == 1
    assert outcomes.count("already_credited") == 11


def test_the_return_from_checkout_grants_the_first_period_before_any_webhook(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    app_url: str, db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=120, priceMinor=600)
    before = balance(db, student.id)
    _, stripe_sub = _paid_in_silence(client, stripe_emulator, app_url, student, plan["id"])
    # The student is back from Stripe before any webhook: asking shows it paid, credited.
    mine = current(client, student).json()
    assert (mine["status"], mine["planId"]) == ("ACTIVE", plan["id"])
    assert balance(db, student.id) == before + 120
    # Then every webhook arrives: nothing more.
    for event in sdk(stripe_emulator).v1.events.list(params={"limit": 100}).data:
        stripe_emulator.resend(event.id)
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 120
    assert subscription_entries(db, student.id) == 1
    assert db.execute(
        "SELECT stripe_subscription_id FROM subscriptions WHERE student_id = %s", (student.id,)
    ).fetchone() == (stripe_sub.id,)
