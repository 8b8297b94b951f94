"""No database connection is held while Stripe is being called (review finding 3).

The app under test has a pool of ONE connection per pool and talks to Stripe through a proxy
that parks chosen calls until released. While a checkout (or a status check) waits on Stripe,
none of its connections may sit in a transaction, and another request must get the one
connection at once. Were it held, that request would wait for the pool's 30 s timeout; the
client gives up after 10 s, so a regression fails the test instead of slowing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer
from tests.checkout.slow_stripe import SlowStripe
from tests.checkout.support import (
    assert_paid_once,
    balance,
    session_row,
    start_checkout,
    webhooks_paused,
)
from tests.support.accounts import Account
from tests.support.live_server import LiveServer

# End-to-end: connection handling while Stripe is slow, over real HTTP.
pytestmark = pytest.mark.e2e

APP_NAME = "medgrader-slow-stripe-test"


def _named(database: Database, application_name: str) -> Database:
    """The same database, with connections PostgreSQL can tell apart in pg_stat_activity."""
    separator = "&" if "?" in database.url else "?"
    return Database(url=f"{database.url}{separator}application_name={application_name}",
                    embedded=None)  # fmt: skip


@pytest.fixture
def slow_stripe(stripe_emulator: EmulatorServer) -> Iterator[SlowStripe]:
    with SlowStripe(stripe_emulator.url) as proxy:
        yield proxy


@pytest.fixture
def tiny_app(settings: Settings, database: Database, slow_stripe: SlowStripe) -> Iterator[str]:
    changes = {"run_worker_in_process": False, "stripe_api_base": slow_stripe.url,
               "db_pool_size": 1, "db_max_overflow": 0}  # fmt: skip
    server = LiveServer(
        create_app(settings.model_copy(update=changes), database=_named(database, APP_NAME))
    ).start()
    try:
        yield server.url
    finally:
        server.stop()


def busy_connections(db: psycopg.Connection) -> list[tuple[str, str]]:
    """The app's connections that are doing something or sitting inside a transaction."""
    return db.execute(  # type: ignore[return-value]
        """SELECT state, query FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = %s AND state <> 'idle'""",
        (APP_NAME,),
    ).fetchall()


def other_requests_succeed(base_url: str, student: Account) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        me = http.get("/api/me", headers=student.headers)
        assert me.status_code == 200, me.text
        listed = http.get("/api/payments/checkout-sessions", headers=student.headers)
        assert listed.status_code == 200, listed.text


def while_stripe_waits(
    slow_stripe: SlowStripe, db: psycopg.Connection, base_url: str, student: Account,
    request: Callable[[], httpx.Response],
) -> httpx.Response:  # fmt: skip
    """Send the request; while its Stripe call is parked, check that nothing is held."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(request)
        try:
            slow_stripe.wait_until_held()
            assert busy_connections(db) == []
            other_requests_succeed(base_url, student)
        finally:
            slow_stripe.release()
        return pending.result(timeout=60)


def test_no_connection_held_while_stripe_creates_the_session(
    tiny_app: str, slow_stripe: SlowStripe, student: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    slow_stripe.hold("POST", "/v1/checkout/sessions")
    body = {"packageId": packages["value"]["id"]}
    with httpx.Client(base_url=tiny_app, timeout=60) as http:
        response = while_stripe_waits(
            slow_stripe, db, tiny_app, student,
            lambda: http.post("/api/payments/credit-checkout", json=body, headers=student.headers),
        )  # fmt: skip
    assert response.status_code == 201, response.text
    created = response.json()
    row = session_row(db, created["sessionId"])
    assert (row["status"], row["credits"], row["amount_pence"]) == ("PENDING", 500, 4500)
    stored = db.execute(
        "SELECT stripe_customer_id FROM student_profiles WHERE user_id = %s", (student.id,)
    ).fetchone()
    assert stored is not None
    assert stored[0] is not None  # the new Customer was recorded in the second transaction


def test_no_connection_held_while_the_status_check_asks_stripe(
    tiny_app: str, slow_stripe: SlowStripe, live_app: LiveServer, student: Account,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    with httpx.Client(base_url=tiny_app, timeout=60) as http:
        session_id = start_checkout(http, student, packages["starter"]["id"])["sessionId"]
        with webhooks_paused(stripe_emulator, live_app.url):
            stripe_emulator.pay(session_id)
            slow_stripe.hold("GET", f"/v1/checkout/sessions/{session_id}")
            url = f"/api/payments/checkout-status/{session_id}"
            response = while_stripe_waits(
                slow_stripe, db, tiny_app, student,
                lambda: http.get(url, headers=student.headers),
            )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)
