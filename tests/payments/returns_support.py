"""Buying, refunding and disputing the way the admin, Stripe and the bank do, and what the
database then says about a payment's returns."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import payments_for, settle_webhooks, start_checkout, stripe_client
from tests.support.accounts import Account


@dataclass(frozen=True)
class Paid:
    student: Account
    session_id: str
    payment_id: str
    payment_intent: str
    credits: int
    pence: int


def buy_and_pay(
    client: httpx.Client, emulator: EmulatorServer, db: psycopg.Connection, student: Account,
    package: dict[str, Any], card: str = "4242424242424242",
) -> Paid:  # fmt: skip
    created = start_checkout(client, student, package["id"])
    emulator.pay(created["sessionId"], card=card)
    settle_webhooks(emulator)
    (payment,) = payments_for(db, created["sessionId"])
    return Paid(
        student=student,
        session_id=created["sessionId"],
        payment_id=str(payment["id"]),
        payment_intent=payment["stripe_payment_intent_id"],
        credits=created["credits"],
        pence=created["amount"],
    )


def admin_refund(
    client: httpx.Client, admin: Account, payment_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = dict(admin.headers) | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/api/admin/payments/{payment_id}/refunds", json=body, headers=headers)


def new_key() -> str:
    return f"refund-{uuid.uuid4()}"


def clawback_rule(credits: int, pence: int, returned: int) -> int:
    """Invariant 8, written independently of the product's code."""
    return min(credits, math.ceil(credits * returned / pence)) if returned > 0 else 0


def payment_row(db: psycopg.Connection, payment_id: str) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM payments WHERE id = %s", (payment_id,))
    row = cursor.fetchone()
    assert row is not None, f"no payment {payment_id}"
    return dict(zip([c.name for c in cursor.description or ()], row, strict=True))


def return_entries(db: psycopg.Connection, payment_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        """SELECT id, entry_type, amount, balance_after, source_type, actor_id::text AS actor_id,
                  idempotency_key, metadata
             FROM credit_transactions
            WHERE source_type IN ('REFUND', 'DISPUTE') AND source_id = %s ORDER BY seq""",
        (payment_id,),
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def taken_back(db: psycopg.Connection, payment_id: str) -> int:
    """Credits the ledger holds as taken back for the payment (debits minus returns)."""
    return sum(
        e["amount"] if e["entry_type"] == "DEBIT" else -e["amount"]
        for e in return_entries(db, payment_id)
    )


def assert_rule_holds(db: psycopg.Connection, paid: Paid, *, returned: int) -> dict[str, Any]:
    """What Stripe returned (`returned` pence) is what we recorded, and the credits taken back,
    in the payment's totals and in the ledger, are the rule applied to it."""
    row = payment_row(db, paid.payment_id)
    assert row["amount_refunded_pence"] + row["amount_disputed_pence"] == returned
    expected = clawback_rule(paid.credits, paid.pence, returned)
    assert row["credits_clawed_back"] == expected
    assert taken_back(db, paid.payment_id) == expected
    return row


def refund_rows(db: psycopg.Connection, payment_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT * FROM refunds WHERE payment_id = %s ORDER BY stripe_created_at, created_at",
        (payment_id,),
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


RETURNS_TYPES = ("refund.", "charge.refunded", "charge.refund.", "charge.dispute.")


def events_of(emulator: EmulatorServer, paid: Paid) -> list[dict[str, Any]]:
    """Every refund and dispute event Stripe emitted for the payment, oldest first."""
    listed = stripe_client(emulator).v1.events.list(params={"limit": 100})
    found = [e.to_dict() for e in reversed(listed.data)]
    return [
        e for e in found
        if e["type"].startswith(RETURNS_TYPES)
        and e["data"]["object"].get("payment_intent") == paid.payment_intent
    ]  # fmt: skip
