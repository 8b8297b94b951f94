"""Money back on a subscription payment follows invariant 8 on that invoice's period:
C = creditsPerPeriod, A = the invoice's amount paid; by the admin or from the Dashboard."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance, settle_webhooks
from tests.lots.support import lots
from tests.payments.returns_support import admin_refund, clawback_rule, new_key, payment_row
from tests.subscriptions.support import create_plan, period_grants, subscribe
from tests.support.accounts import Account

pytestmark = pytest.mark.usefixtures("invariants")


def test_refunds_of_a_subscription_payment_take_back_by_the_rule(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    plan = create_plan(client, admin, creditsPerPeriod=333, priceMinor=1000)
    subscribe(client, stripe_emulator, student, plan["id"])
    [grant] = period_grants(db, student.id)
    payment_id = str(grant["payment_id"])
    assert payment_row(db, payment_id)["credits"] == 333

    partial = admin_refund(client, admin, payment_id, key=new_key(), amount=250)
    assert partial.status_code == 201, partial.text
    settle_webhooks(stripe_emulator)
    taken = clawback_rule(333, 1000, 250)  # ceil(333 * 250 / 1000) = 84
    assert payment_row(db, payment_id)["credits_clawed_back"] == taken == 84
    assert balance(db, student.id) == before + 333 - 84
    # Taken from the period's own lot (here the spend order would pick it first too: it
    # expires soonest; lots_purchase_lot finds it by the invoice either way).
    [lot] = [lot for lot in lots(db, student.id) if lot["source"] == "SUBSCRIPTION"]
    assert lot["remaining"] == 333 - 84
    row = db.execute("SELECT (lots_purchase_lot(%s)).id", (payment_id,)).fetchone()
    assert row == (lot["id"],)

    # The rest from the Dashboard: Stripe's events alone drive it.
    stripe_emulator.refund(payment_intent=grant["stripe_payment_intent_id"])
    settle_webhooks(stripe_emulator)
    row = payment_row(db, payment_id)
    assert (row["status"], row["amount_refunded_pence"], row["credits_clawed_back"]) == (
        "REFUNDED", 1000, 333)  # fmt: skip
    assert balance(db, student.id) == before


def test_a_subscription_payment_reads_like_any_payment(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=50, priceMinor=700)
    subscribe(client, stripe_emulator, student, plan["id"])
    [grant] = period_grants(db, student.id)
    listed = client.get("/api/payments", headers=student.headers)
    assert listed.status_code == 200, listed.text
    [mine] = listed.json()["items"]
    assert (mine["type"], mine["amount"], mine["credits"], mine["packageName"]) == (
        "SUBSCRIPTION", 700, 50, plan["name"])  # fmt: skip
    assert mine["stripeCheckoutSessionId"] is None
    assert mine["stripeInvoiceId"] == grant["stripe_invoice_id"]
    one = client.get(f"/api/payments/{mine['id']}", headers=student.headers)
    assert one.status_code == 200
    assert one.json()["stripeSubscriptionId"] == grant["stripe_subscription_id"]
    wallet = client.get("/api/admin/payments", headers=admin.headers)
    assert wallet.status_code == 200, wallet.text
