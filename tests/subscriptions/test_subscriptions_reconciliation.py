"""Paid invoices of known subscriptions that no webhook delivered are found by the periodic
reconciliation and granted once; the audit sees a period's grant broken."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from medgrader.subscriptions.tasks import reconcile_subscription_invoices
from tests.checkout.support import balance, settle_webhooks, webhooks_paused
from tests.subscriptions.support import (
    advance_clock,
    create_plan,
    current,
    epoch,
    period_grants,
    put_on_test_clock,
    sdk,
    subscribe,
)
from tests.support.accounts import Account
from tests.support.invariants import audit_findings
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")


def test_reconciliation_grants_an_undelivered_renewal_once(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection, services: ServiceRunner, app_url: str,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    plan = create_plan(client, admin, creditsPerPeriod=150)
    clock = put_on_test_clock(db, stripe_emulator, student)
    subscribe(client, stripe_emulator, student, plan["id"])
    first = current(client, student).json()
    with webhooks_paused(stripe_emulator, app_url):
        advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + 3700)
    assert balance(db, student.id) == before + 150  # the renewal's webhooks never came

    report = services.run(reconcile_subscription_invoices)
    assert len(report.credited) == 1
    assert report.errors == []
    assert balance(db, student.id) == before + 300
    grants = period_grants(db, student.id)
    assert [g["billing_reason"] for g in grants] == ["subscription_create", "subscription_cycle"]
    assert current(client, student).json()["currentPeriodStart"] == first["currentPeriodEnd"]

    again = services.run(reconcile_subscription_invoices)
    assert again.credited == []
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 300

    # A cancellation whose webhooks never came is seen too.
    stripe_id = db.execute(
        "SELECT stripe_subscription_id FROM subscriptions WHERE student_id = %s", (student.id,)
    ).fetchone()
    assert stripe_id is not None
    with webhooks_paused(stripe_emulator, app_url):
        sdk(stripe_emulator).v1.subscriptions.cancel(stripe_id[0])
        settle_webhooks(stripe_emulator)
    assert current(client, student).json()["status"] == "ACTIVE"
    services.run(reconcile_subscription_invoices)
    assert current(client, student).json()["status"] == "CANCELED"


def test_the_audit_sees_a_period_grant_broken(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, creditsPerPeriod=120)
    subscribe(client, stripe_emulator, student, plan["id"])
    checks = {
        "subscription_invoice_has_one_grant",
        "subscription_grant_has_its_invoice",
        "subscription_invoice_has_its_payment",
        "subscription_lot_terms_follow_the_rule",
    }
    assert {f[0] for f in audit_findings(db)} & checks == set()
    with db.transaction(force_rollback=True):
        db.execute(
            "UPDATE subscription_invoices SET value_pence = value_pence + 1,"
            " credits = credits + 1, stripe_invoice_id = stripe_invoice_id || 'x'"
            " WHERE student_id = %s",
            (student.id,),
        )
        assert checks <= {f[0] for f in audit_findings(db)}
    assert {f[0] for f in audit_findings(db)} & checks == set()
