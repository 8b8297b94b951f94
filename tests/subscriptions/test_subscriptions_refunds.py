"""Money back on a subscription payment follows invariant 8 on that invoice's period:
C = creditsPerPeriod, A = the invoice's amount paid; by the admin or from the Dashboard."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance, settle_webhooks
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

    # The rest from the Dashboard: Stripe's events alone drive it.
    stripe_emulator.refund(payment_intent=grant["stripe_payment_intent_id"])
    settle_webhooks(stripe_emulator)
    row = payment_row(db, payment_id)
    assert (row["status"], row["amount_refunded_pence"], row["credits_clawed_back"]) == (
        "REFUNDED", 1000, 333)  # fmt: skip
    assert balance(db, student.id) == before
