"""Plans the way the back office makes them, subscribing the way a student does, renewals
driven by a Stripe test clock, and database look-ups."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psycopg
import stripe

from tests.checkout.support import settle_webhooks, stripe_client
from tests.support.accounts import Account

ADMIN_PLANS = "/api/admin/plans"
MONTH = 30 * 86400


def create_plan(client: httpx.Client, admin: Account, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Plan {uuid.uuid4().hex[:8]}", "creditsPerPeriod": 500,
            "priceMinor": 1500, "interval": "month", **fields}  # fmt: skip
    response = client.post(ADMIN_PLANS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def sdk(emulator: Any) -> stripe.StripeClient:
    return stripe_client(emulator)


def events_of(emulator: Any, event_type: str, object_id: str) -> list[str]:
    """Ids of the events Stripe emitted of this type about the object (oldest first)."""
    listed = sdk(emulator).v1.events.list(params={"type": event_type, "limit": 100})
    return [e.id for e in reversed(listed.data) if e.data.object["id"] == object_id]


def stripe_subscription_of(emulator: Any, session_id: str) -> Any:
    session = sdk(emulator).v1.checkout.sessions.retrieve(session_id)
    return sdk(emulator).v1.subscriptions.retrieve(session.subscription)


def put_on_test_clock(db: psycopg.Connection, emulator: Any, student: Account) -> str:
    """Give the student a Stripe customer on a new test clock (as our app would have created
    it, stored on their profile): their subscription then renews when the clock advances."""
    client = sdk(emulator)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    customer = client.v1.customers.create(
        params={"email": student.email, "test_clock": clock.id,
                "metadata": {"student_id": student.id}}
    )  # fmt: skip
    db.execute(
        "UPDATE student_profiles SET stripe_customer_id = %s WHERE user_id = %s",
        (customer.id, student.id),
    )
    return str(clock.id)


def advance_clock(emulator: Any, clock_id: str, to: int) -> None:
    client = sdk(emulator)
    client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    settle_webhooks(emulator)  # waits for advancing clocks, then for the deliveries
    assert client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready"


def subscribe(
    client: httpx.Client, emulator: Any, student: Account, plan_id: str, *, pay: bool = True
) -> dict[str, Any]:
    response = client.post(
        "/api/subscriptions/checkout", json={"planId": plan_id}, headers=student.headers
    )
    assert response.status_code == 201, response.text
    if pay:
        emulator.pay(response.json()["sessionId"])
        settle_webhooks(emulator)
    return response.json()  # type: ignore[no-any-return]


def current(client: httpx.Client, student: Account) -> httpx.Response:
    return client.get("/api/subscriptions/current", headers=student.headers)


def rows(db: psycopg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    cursor = db.execute(sql, args)
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def period_grants(db: psycopg.Connection, student_id: str) -> list[dict[str, Any]]:
    return rows(
        db,
        """SELECT i.*, t.amount AS entry_amount, p.type AS payment_type,
                  p.stripe_payment_intent_id, p.amount_pence AS payment_amount
             FROM subscription_invoices i
             LEFT JOIN credit_transactions t
               ON t.source_type = 'SUBSCRIPTION' AND t.source_id = i.stripe_invoice_id
             LEFT JOIN payments p ON p.id = i.payment_id
            WHERE i.student_id = %s ORDER BY i.period_start""",
        student_id,
    )


def subscription_entries(db: psycopg.Connection, student_id: str) -> int:
    (count,) = db.execute(
        "SELECT count(*) FROM credit_transactions WHERE student_id = %s"
        " AND source_type = 'SUBSCRIPTION'",
        (student_id,),
    ).fetchone() or (0,)
    return int(count)


def emulator_http(emulator: Any) -> httpx.Client:
    """An HTTP client that reaches the emulator's own pages (the portal's forms)."""
    inner = getattr(emulator, "_http", None)  # InProcessStripe: through the loop
    return inner if inner is not None else httpx.Client()  # type: ignore[no-any-return]


def portal(client: httpx.Client, student: Account) -> str:
    response = client.post("/api/subscriptions/portal", headers=student.headers)
    assert response.status_code == 200, response.text
    return response.json()["url"]  # type: ignore[no-any-return]


def epoch(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
