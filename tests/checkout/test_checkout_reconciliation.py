"""Reconciliation and the expiry sweep (review finding 2): PENDING sessions that no webhook
settled are asked about at Stripe (the emulator) and settled by the job, exactly once.

Each test makes its sessions look older than the job's minimum age by moving their
created_at back an hour; sessions other tests create are younger and left alone.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.checkout.reconciliation import ReconciliationReport
from medgrader.checkout.tasks import reconcile_checkout_sessions_task, reconcile_pending_sessions
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    assert_not_paid,
    assert_paid_once,
    balance,
    inbox,
    inbox_for_session,
    receipts,
    session_row,
    settle_webhooks,
    start_checkout,
    stripe_events,
    wait_until,
    webhooks_paused,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner


def age(db: psycopg.Connection, stripe_session_id: str) -> None:
    db.execute(
        "UPDATE checkout_sessions SET created_at = created_at - interval '1 hour' "
        "WHERE stripe_session_id = %s",
        (stripe_session_id,),
    )


def reconcile(services: ServiceRunner) -> ReconciliationReport:
    return services.run(reconcile_pending_sessions)


def test_paid_session_whose_webhook_never_came_is_credited_once(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    mailbox: Mailbox, capfd: pytest.CaptureFixture[str], invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = start_checkout(client, student, packages["value"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id)
        age(db, session_id)
        assert session_row(db, session_id)["status"] == "PENDING"
        first = reconcile(services)
        second = reconcile(services)  # the next run finds nothing left to do for it
    assert session_id in first.credited
    assert session_id not in second.credited
    assert inbox_for_session(db, session_id) == []  # no webhook was involved
    assert balance(db, student.id) == before + 500
    payment = assert_paid_once(db, student.id, session_id, 500, 4500)
    assert "webhook_missed" in capfd.readouterr().out

    # The receipt went out as for any purchase.
    wait_until(lambda: len(receipts(mailbox, student.email)) == 1, what="the receipt")
    assert (
        receipts(mailbox, student.email)[0]["Subject"] == "Payment Successful - 500 Credits Added"
    )

    # Stripe's webhook turns up after all: nothing more is credited.
    (event_id,) = stripe_events(stripe_emulator, session_id, "checkout.session.completed")
    stripe_emulator.resend(event_id)
    settle_webhooks(stripe_emulator)
    stored = inbox(db, event_id)
    assert stored is not None
    assert stored["outcome"] == "already_completed"
    assert balance(db, student.id) == before + 500
    assert assert_paid_once(db, student.id, session_id, 500, 4500)["id"] == payment["id"]


def test_expired_at_stripe_becomes_expired_and_open_stays_pending(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    expired = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    still_open = start_checkout(client, student, packages["premium"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.expire(expired)
        for session_id in (expired, still_open):
            age(db, session_id)
        report = reconcile(services)
    assert expired in report.expired
    assert session_row(db, expired)["status"] == "EXPIRED"
    assert session_row(db, still_open)["status"] == "PENDING"
    assert still_open not in report.expired + report.credited + report.errors
    assert balance(db, student.id) == before
    assert_not_paid(db, expired)
    assert_not_paid(db, still_open)


def test_young_sessions_are_left_to_their_webhook(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id)
        report = reconcile(services)
        assert session_id not in report.credited
        assert session_row(db, session_id)["status"] == "PENDING"
        # Its student comes back to the success page: settled there, as ever.
        status = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
    assert status.json()["status"] == "COMPLETED"
    assert_paid_once(db, student.id, session_id, 100, 1000)


def test_stripe_error_for_one_session_does_not_stop_the_batch(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    paid = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    # A row Stripe has never heard of (404 there), due before the paid one in the batch order.
    unknown = f"cs_test_unknown_{uuid.uuid4().hex}"
    db.execute(
        """INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id, package_name,
                                          credits, amount_pence, currency, status, expires_at,
                                          created_at)
           SELECT %s, student_id, package_id, package_name, credits, amount_pence, currency,
                  'PENDING', expires_at - interval '1 minute', created_at - interval '1 hour'
             FROM checkout_sessions WHERE stripe_session_id = %s""",
        (unknown, paid),
    )
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(paid)
        age(db, paid)
        report = reconcile(services)
    assert unknown in report.errors
    assert paid in report.credited
    assert session_row(db, unknown)["status"] == "PENDING"
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, paid, 100, 1000)


def test_the_job_is_scheduled_and_its_body_runs_through_the_worker_context(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    invariants: None,
) -> None:  # fmt: skip
    periodic = {
        (p.task.name, p.cron) for p in services.ctx.jobs.periodic_registry.periodic_tasks.values()
    }
    assert ("checkout:reconcile_checkout_sessions", "*/5 * * * *") in periodic
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id)
        age(db, session_id)
        job_context = SimpleNamespace(additional_context={"app_context": services.ctx})
        services.run(lambda _: reconcile_checkout_sessions_task.func(job_context, timestamp=0))
    assert_paid_once(db, student.id, session_id, 100, 1000)
