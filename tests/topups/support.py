"""Saving cards, configuring automatic top-up and spending, the way the frontend and a student
do, plus the database's view of attempts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from tests.checkout.support import stripe_client
from tests.support.accounts import Account

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
NEEDS_AUTH = "4000002760003184"
ALWAYS_DECLINED = "4000000000000341"
INSUFFICIENT_FUNDS = "4000008260003178"


def save_card(client: httpx.Client, student: Account, stripe: Any, card: str = VISA) -> str:
    """Save a card through a setup-mode Checkout; returns its PaymentMethod id."""
    response = client.post("/api/credits/payment-methods/setup", headers=student.headers)
    assert response.status_code == 201, response.text
    stripe.pay(response.json()["sessionId"], card)
    stripe.wait_for_deliveries()
    cards = client.get("/api/credits/payment-methods", headers=student.headers)
    assert cards.status_code == 200, cards.text
    return str(cards.json()[0]["id"])


def turn_on(
    client: httpx.Client,
    student: Account,
    package: dict[str, Any],
    *,
    threshold: int = 50,
    limit: int = 100_000,
    enabled: bool = True,
    expect: int = 200,
) -> dict[str, Any]:
    response = client.put(
        "/api/credits/auto-top-up",
        json={"enabled": enabled, "thresholdCredits": threshold, "packageId": package["id"],
              "monthlyLimitMinor": limit},
        headers=student.headers,
    )  # fmt: skip
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def failed_attempt(
    client: httpx.Client,
    student: Account,
    stripe: Any,
    package: dict[str, Any],
    db: psycopg.Connection,
    run_jobs: Any,
    card: str = NEEDS_AUTH,
) -> dict[str, Any]:
    """Save `card`, turn top-up on (threshold 50) and spend down to it: the one attempt, after
    the job (for the default card: FAILED, authentication_required)."""
    save_card(client, student, stripe, card)
    turn_on(client, student, package, threshold=50)
    assert spend(client, student, 50).status_code == 201
    run_jobs()
    [attempt] = attempts(db, student.id)
    return attempt


def spend(client: httpx.Client, student: Account, amount: int) -> httpx.Response:
    return client.post(
        "/api/credits/spend",
        json={"amount": amount, "reason": "voice session"},
        headers={**student.headers, "Idempotency-Key": str(uuid.uuid4())},
    )


def attempts(db: psycopg.Connection, student_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT * FROM auto_top_up_attempts WHERE student_id = %s ORDER BY created_at",
        (student_id,),
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def top_up_entries(db: psycopg.Connection, student_id: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT source_id, amount FROM credit_transactions"
        " WHERE student_id = %s AND source_type = 'TOP_UP'",
        (student_id,),
    ).fetchall()


def top_up_payments(db: psycopg.Connection, student_id: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT top_up_attempt_id::text, stripe_payment_intent_id, amount_pence, credits"
        " FROM payments WHERE student_id = %s AND top_up_attempt_id IS NOT NULL",
        (student_id,),
    ).fetchall()


def intents_charged(stripe: Any, student: Account) -> list[Any]:
    """The student's succeeded top-up PaymentIntents at the emulator (what was charged)."""
    client = stripe_client(stripe)
    listed = client.v1.payment_intents.list(params={"limit": 100})
    return [
        pi
        for pi in listed.data
        if pi.status == "succeeded"
        and pi.metadata.to_dict().get("student_id") == student.id
        and "top_up_attempt_id" in pi.metadata.to_dict()
    ]
