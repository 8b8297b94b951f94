"""A retried admin refund whose first attempt died between Stripe refunding and our commit
(issue 16): a real `medgrader serve` is killed (SIGKILL) while Stripe's answer is on its way.

Meanwhile the `refund.created` webhook records the refund (through another API process), and
another refund of the payment fails, so that "all that is left" is no longer what the first
attempt asked for. The retry under the same Idempotency-Key still answers 201 with the refund
Stripe made under that key (the resolved request was stored with the key before Stripe was
called, and is sent again as it was); a second refund under a new key takes only what is left.
Before: the retry answered 502 stripe_error for ever (a different amount under the same
Stripe key), and an admin told nothing was refunded could refund twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.config import Settings
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer
from tests.checkout.slow_stripe import SlowStripe
from tests.checkout.support import balance, settle_webhooks, stripe_client
from tests.conftest import JWT_SECRET, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.ops.processes import Process, wait_for_status
from tests.payments.returns_support import (
    admin_refund,
    assert_rule_holds,
    buy_and_pay,
    new_key,
    payment_row,
    refund_rows,
)
from tests.support.accounts import Account
from tests.support.live_server import free_port

# Real processes: an API killed mid-refund, the emulator over HTTP behind a slow proxy.
pytestmark = pytest.mark.e2e


@pytest.fixture
def slow_stripe(stripe_emulator: EmulatorServer) -> Iterator[SlowStripe]:
    with SlowStripe(stripe_emulator.url) as proxy:
        yield proxy


@pytest.fixture
def doomed_api(
    settings: Settings, database: Database, slow_stripe: SlowStripe, tmp_path: Path
) -> Iterator[tuple[str, Process]]:
    """`medgrader serve` on the test database, reaching Stripe through the slow proxy."""
    port = free_port()
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database.url,
        "JWT_SECRET": JWT_SECRET,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_API_BASE": slow_stripe.url,
        "RUN_WORKER_IN_PROCESS": "false",
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": str(settings.smtp_port),
    }
    process = Process(
        "doomed-api", ["serve", "--port", str(port), "--no-access-log"], env, tmp_path
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(f"{url}/health/live", 200, process)
        yield url, process
    finally:
        process.stop()


def _stripe_refunds(emulator: EmulatorServer, payment_intent: str) -> list[Any]:
    return list(stripe_client(emulator).v1.refunds.list(params={"payment_intent": payment_intent}))


def test_a_retry_after_a_crash_answers_the_refund_stripe_made_and_never_refunds_twice(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, slow_stripe: SlowStripe,
    doomed_api: tuple[str, Process], db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])  # 100 for £10
    # A refund of £3 from the Dashboard, recorded by its webhook: £7 is "all that is left".
    dashboard = stripe_emulator.refund(payment_intent=paid.payment_intent, amount=300)
    settle_webhooks(stripe_emulator)
    assert payment_row(db, paid.payment_id)["amount_refunded_pence"] == 300

    # The admin asks for all that is left; Stripe refunds £7 and the API dies before its commit.
    api_url, api = doomed_api
    key = new_key()
    slow_stripe.hold_response("POST", "/v1/refunds")
    first: list[BaseException | httpx.Response] = []

    def first_attempt() -> None:
        with httpx.Client(base_url=api_url, timeout=30) as http:
            try:
                first.append(admin_refund(http, admin, paid.payment_id, key))
            except httpx.HTTPError as exc:
                first.append(exc)

    attempt = threading.Thread(target=first_attempt)
    attempt.start()
    slow_stripe.wait_until_held()  # Stripe has made the refund; its answer waits at the gate
    api.kill()
    slow_stripe.release()
    attempt.join(30)
    assert isinstance(first[0], httpx.HTTPError)  # the admin was told nothing
    [made] = [r for r in _stripe_refunds(stripe_emulator, paid.payment_intent) if r.amount == 700]

    # Meanwhile: Stripe's refund.created records the refund (another API process)...
    settle_webhooks(stripe_emulator)
    assert payment_row(db, paid.payment_id)["amount_refunded_pence"] == 1000
    # ...and the Dashboard refund fails: £3 is left again, so "all that is left" changed.
    stripe_emulator.fail_refund(dashboard["id"])
    settle_webhooks(stripe_emulator)
    assert payment_row(db, paid.payment_id)["amount_refunded_pence"] == 700

    retried = admin_refund(client, admin, paid.payment_id, key)
    assert retried.status_code == 201, retried.text
    assert (retried.json()["id"], retried.json()["amount"]) == (made.id, 700)
    again = admin_refund(client, admin, paid.payment_id, key)  # and so on, as the first time
    assert (again.status_code, again.json()) == (201, retried.json())
    assert again.headers.get("Idempotent-Replayed") == "true"

    # A new key refunds only what is left (£3), never the £7 again.
    fresh = admin_refund(client, admin, paid.payment_id, new_key())
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["amount"] == 300
    beyond = admin_refund(client, admin, paid.payment_id, new_key())
    assert (beyond.status_code, beyond.json()["code"]) == (422, "amount_not_refundable")
    settle_webhooks(stripe_emulator)

    at_stripe = _stripe_refunds(stripe_emulator, paid.payment_intent)
    live = [r for r in at_stripe if r.status in ("pending", "succeeded")]
    assert sorted(r.amount for r in live) == [300, 700]  # exactly the payment, once
    assert sorted(
        (r["stripe_refund_id"], r["status"]) for r in refund_rows(db, paid.payment_id)
    ) == (sorted((r.id, r.status) for r in at_stripe))
    actors = {r["stripe_refund_id"]: r["actor_id"] for r in refund_rows(db, paid.payment_id)}
    assert str(actors[made.id]) == admin.id  # recorded by the webhook, the admin its actor
    row = payment_row(db, paid.payment_id)
    assert (row["amount_refunded_pence"], row["credits_clawed_back"], row["status"]) == (
        1000, 100, "REFUNDED",
    )  # fmt: skip
    assert_rule_holds(db, paid, returned=1000)
    assert balance(db, student.id) == 100  # the welcome bonus; the purchase's 100 went back
