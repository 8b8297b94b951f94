"""A subscription's paid invoices grant creditsPerPeriod exactly once per Stripe invoice, with
a Payment and a receipt, whichever way the events come (invariant 13)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance, settle_webhooks
from tests.lots.support import lots
from tests.subscriptions.support import (
    create_plan,
    current,
    period_grants,
    sdk,
    subscribe,
    subscription_entries,
)
from tests.support.accounts import Account
from tests.support.invariants import assert_ledger_invariants
from tests.support.mailbox import Mailbox
from tests.support.tiers import BOTH_TIERS, NewClient

pytestmark = pytest.mark.usefixtures("invariants")


@BOTH_TIERS
def test_subscribing_grants_the_first_period_once_with_a_payment_and_receipt(
    tier: str, client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection, run_jobs: Any, mailbox: Mailbox,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=500, priceMinor=1500)
    before = balance(db, student.id)
    assert current(client, student).json()["code"] == "no_subscription"

    created = subscribe(client, stripe_emulator, student, plan["id"])
    assert created["sessionUrl"].startswith("http")

    mine = current(client, student)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["status"], body["planId"], body["creditsPerPeriod"]) == (
        "ACTIVE", plan["id"], 500)  # fmt: skip
    assert body["currentPeriodEnd"] > body["currentPeriodStart"]
    assert balance(db, student.id) == before + 500
    [grant] = period_grants(db, student.id)
    assert (grant["credits"], grant["entry_amount"], grant["value_pence"]) == (500, 500, 1500)
    assert grant["billing_reason"] == "subscription_create"
    assert grant["expires_at"] == grant["period_end"]
    assert grant["payment_type"] == "SUBSCRIPTION"
    assert grant["payment_amount"] == 1500
    assert grant["stripe_payment_intent_id"].startswith("pi_")

    run_jobs()
    [receipt] = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "500 Credits" in str(m["Subject"])
    )
    assert "Plan" in receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # Stripe sends everything again: nothing more.
    for event in sdk(stripe_emulator).v1.events.list(params={"limit": 100}).data:
        if event.type.startswith(("invoice.", "checkout.session", "customer.subscription")):
            stripe_emulator.resend(event.id)
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 500
    assert subscription_entries(db, student.id) == 1
    # The period's credits are ONE lot (credit lots, issue 17): PAID, of source SUBSCRIPTION,
    # expiring at the period's end and worth what the invoice paid; the audit (the lots'
    # checks included) finds nothing.
    [lot] = [lot for lot in lots(db, student.id) if lot["source"] == "SUBSCRIPTION"]
    assert (lot["kind"], lot["amount"], lot["remaining"]) == ("PAID", 500, 500)
    assert (lot["expires_at"], lot["value_minor"], lot["currency"]) == (
        grant["period_end"], 1500, "GBP")  # fmt: skip
    assert_ledger_invariants(db)


def test_a_second_subscription_is_refused_while_one_is_live(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan, other = create_plan(client, admin), create_plan(client, admin, priceMinor=900)
    subscribe(client, stripe_emulator, student, plan["id"], pay=False)
    again = client.post(
        "/api/subscriptions/checkout", json={"planId": other["id"]}, headers=student.headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_subscribed")
    assert current(client, student).json()["status"] == "INCOMPLETE"

    off = client.patch(f"/api/admin/plans/{other['id']}", json={"isActive": False},
                       headers=admin.headers)  # fmt: skip
    assert off.status_code == 200
    (count,) = db.execute(
        "SELECT count(*) FROM subscriptions WHERE student_id = %s", (student.id,)
    ).fetchone() or (0,)
    assert count == 1


def test_an_inactive_or_unknown_plan_takes_no_subscriber(
    client: httpx.Client, admin: Account, student: Account, db: psycopg.Connection
) -> None:
    plan = create_plan(client, admin)
    client.patch(f"/api/admin/plans/{plan['id']}", json={"isActive": False}, headers=admin.headers)
    refused = client.post(
        "/api/subscriptions/checkout", json={"planId": plan["id"]}, headers=student.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "plan_not_available")
    unknown = client.post(
        "/api/subscriptions/checkout",
        json={"planId": "00000000-0000-0000-0000-000000000000"},
        headers=student.headers,
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "plan_not_found")
    (count,) = db.execute(
        "SELECT count(*) FROM subscriptions WHERE student_id = %s", (student.id,)
    ).fetchone() or (0,)
    assert count == 0


def test_racing_checkouts_open_one_subscription(
    new_client: NewClient, client: httpx.Client, admin: Account, student: Account,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin)

    def start(_: int) -> int:
        with new_client() as http:
            return http.post("/api/subscriptions/checkout", json={"planId": plan["id"]},
                             headers=student.headers).status_code  # fmt: skip

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(start, range(6)))
    assert statuses == [201] + [409] * 5  # one live subscription per student: a database rule
    (count,) = db.execute(
        "SELECT count(*) FROM subscriptions WHERE student_id = %s AND status = 'INCOMPLETE'",
        (student.id,),
    ).fetchone() or (0,)
    assert count == 1


def test_a_missing_stripe_customer_is_replaced_for_a_subscription(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin)
    first = subscribe(client, stripe_emulator, student, plan["id"], pay=False)
    stripe_emulator.expire(first["sessionId"])
    settle_webhooks(stripe_emulator)
    (gone,) = db.execute(
        "SELECT stripe_customer_id FROM student_profiles WHERE user_id = %s", (student.id,)
    ).fetchone() or (None,)
    assert gone is not None
    del stripe_emulator.emulator.store.customers[gone]  # deleted in the Dashboard

    subscribe(client, stripe_emulator, student, plan["id"])  # was a 502
    (replacement,) = db.execute(
        "SELECT stripe_customer_id FROM student_profiles WHERE user_id = %s", (student.id,)
    ).fetchone() or (None,)
    assert replacement not in (None, gone)
    assert current(client, student).json()["status"] == "ACTIVE"
