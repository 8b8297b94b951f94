"""Buying credits the way the frontend, Stripe and a student do, plus database look-ups.

Shared by tests/checkout, tests/webhooks and tests/payments.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import stripe

from stripe_emulator.testing import EmulatorServer
from tests.conftest import STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, WEBHOOK_PATH
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.stripe_in_process import InProcessStripe
from tests.support.tiers import is_e2e

DECLINED_CARD = "4000000000000002"
PACKAGE_SPECS = {"starter": (100, 1000), "value": (500, 4500), "premium": (1000, 8000)}


def create_packages(client: httpx.Client, admin: Account) -> dict[str, dict[str, Any]]:
    """Three packages shaped like the seeded ones, with names unique to the caller."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    for key, (credits, pence) in PACKAGE_SPECS.items():
        response = client.post(
            "/api/credit-packages",
            json={"name": f"{key.title()} {tag}", "description": f"{credits} credits",
                  "credits": credits, "priceInCents": pence},
            headers=admin.headers,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        made[key] = response.json()
    return made


def start_checkout(client: httpx.Client, student: Account, package_id: str) -> dict[str, Any]:
    response = client.post(
        "/api/payments/credit-checkout", json={"packageId": package_id}, headers=student.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def settle_webhooks(emulator: EmulatorServer) -> None:
    emulator.wait_for_deliveries(timeout=20)


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 15.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- the database's view ---------------------------------------------------------------------
def session_row(db: psycopg.Connection, stripe_session_id: str) -> dict[str, Any]:
    cursor = db.execute(
        "SELECT * FROM checkout_sessions WHERE stripe_session_id = %s", (stripe_session_id,)
    )
    row = cursor.fetchone()
    assert row is not None, f"no checkout session {stripe_session_id}"
    return dict(zip([c.name for c in cursor.description or ()], row, strict=True))


def purchase_entries(db: psycopg.Connection, stripe_session_id: str) -> list[tuple[Any, ...]]:
    return db.execute(
        """SELECT student_id::text, entry_type, amount, balance_after, idempotency_key
             FROM credit_transactions WHERE source_type = 'PURCHASE' AND source_id = %s""",
        (stripe_session_id,),
    ).fetchall()


def payments_for(db: psycopg.Connection, stripe_session_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT * FROM payments WHERE stripe_checkout_session_id = %s", (stripe_session_id,)
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def balance(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT credit_balance FROM student_profiles WHERE user_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def entry_count(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM credit_transactions WHERE student_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def inbox(db: psycopg.Connection, event_id: str) -> dict[str, Any] | None:
    cursor = db.execute("SELECT * FROM webhook_events WHERE id = %s", (event_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c.name for c in cursor.description or ()], row, strict=True))


def inbox_for_session(db: psycopg.Connection, stripe_session_id: str) -> list[dict[str, Any]]:
    # Matched in Python: PostgreSQL's json operators (payload -> ...) fail on any row whose
    # text holds a \u0000 escape, which the inbox stores on purpose.
    cursor = db.execute(
        """SELECT id, type, outcome, processed_at, payload::text AS payload FROM webhook_events
            WHERE strpos(payload::text, %s) > 0 ORDER BY received_at""",
        (stripe_session_id,),
    )
    names = [c.name for c in cursor.description or ()]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return [
        {k: v for k, v in row.items() if k != "payload"}
        for row in rows
        if json.loads(row["payload"])["data"]["object"].get("id") == stripe_session_id
    ]


def assert_paid_once(
    db: psycopg.Connection, student_id: str, stripe_session_id: str, credits: int, pence: int
) -> dict[str, Any]:
    """Exactly one PURCHASE entry and one Payment for the session, and the row COMPLETED."""
    entries = purchase_entries(db, stripe_session_id)
    assert len(entries) == 1, entries
    assert entries[0][:3] == (student_id, "CREDIT", credits)
    assert entries[0][4] == f"purchase:{stripe_session_id}"
    found = payments_for(db, stripe_session_id)
    assert len(found) == 1, found
    payment = found[0]
    assert str(payment["student_id"]) == student_id
    assert (payment["amount_pence"], payment["currency"], payment["credits"]) == (
        pence,
        "GBP",
        credits,
    )
    assert (payment["type"], payment["status"]) == ("CREDITS", "SUCCEEDED")
    row = session_row(db, stripe_session_id)
    assert row["status"] == "COMPLETED"
    assert row["completed_at"] is not None
    assert payment["stripe_payment_intent_id"] == row["stripe_payment_intent_id"]
    return payment


def assert_not_paid(db: psycopg.Connection, stripe_session_id: str) -> None:
    assert purchase_entries(db, stripe_session_id) == []
    assert payments_for(db, stripe_session_id) == []


def receipts(mailbox: Mailbox, email: str) -> list[Any]:
    return [m for m in mailbox.messages(to=email) if "Payment Successful" in str(m["Subject"])]


# -- speaking as Stripe -----------------------------------------------------------------------
def stripe_client(emulator: Any) -> stripe.StripeClient:
    """The official SDK on the emulator: over HTTP (EmulatorServer), or in-process
    (InProcessStripe has its own)."""
    if isinstance(emulator, InProcessStripe):
        return emulator.stripe_client(STRIPE_SECRET_KEY)
    return stripe.StripeClient(STRIPE_SECRET_KEY, base_addresses={"api": emulator.url})


def retrieve_session(emulator: EmulatorServer, stripe_session_id: str) -> dict[str, Any]:
    return stripe_client(emulator).v1.checkout.sessions.retrieve(stripe_session_id).to_dict()


def make_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def sign(payload: bytes, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp or int(time.time())
    )


def post_event(
    client: httpx.Client,
    event: dict[str, Any] | bytes,
    *,
    secret: str = STRIPE_WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = signature if signature is not None else sign(payload, secret, timestamp)
    return client.post(
        WEBHOOK_PATH,
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


# -- steering the emulator's deliveries -------------------------------------------------------
@contextlib.contextmanager
def webhooks_paused(emulator: EmulatorServer, app_url: str) -> Iterator[None]:
    """No webhook reaches the app inside the block (events are still recorded by Stripe)."""
    url = f"{app_url}{WEBHOOK_PATH}"
    endpoint = next(e for e in emulator.endpoints() if e["url"] == url)
    emulator.remove_endpoint(endpoint["id"])
    try:
        yield
    finally:
        emulator.add_endpoint(url, secret=STRIPE_WEBHOOK_SECRET)


@contextlib.contextmanager
def webhook_faults(emulator: EmulatorServer, app_url: str, **faults: Any) -> Iterator[None]:
    emulator.set_faults(endpoint=f"{app_url}{WEBHOOK_PATH}", **faults)
    try:
        yield
    finally:
        emulator.clear_faults()


def stripe_events(emulator: EmulatorServer, stripe_session_id: str, event_type: str) -> list[str]:
    """Ids of the events Stripe emitted of this type for the session (oldest first)."""
    listed = stripe_client(emulator).v1.events.list(params={"type": event_type, "limit": 100})
    return [e.id for e in reversed(listed.data) if e.data.object["id"] == stripe_session_id]


@pytest.fixture
def packages(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Starter/Value/Premium-shaped packages (import into a conftest): made for each fast test
    (its database starts empty), once for the end-to-end tier."""
    if is_e2e(request.node):
        return request.getfixturevalue("live_packages")  # type: ignore[no-any-return]
    return create_packages(request.getfixturevalue("client"), request.getfixturevalue("admin"))
