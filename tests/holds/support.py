"""Calling the holds API the way the voice service does, and looking at holds in the database."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.credits.factory import new_key, spend_headers
from tests.support.accounts import Account

HOLDS = "/api/credits/holds"
HOLD_FIELDS = {
    "holdId",
    "status",
    "amount",
    "capturedAmount",
    "reason",
    "createdAt",
    "expiresAt",
    "availableBalance",
    "transactionId",
}


def create(
    client: httpx.Client,
    student: Account,
    amount: int,
    *,
    key: str | None = None,
    reason: str = "Voice tutoring",
    **extra: Any,
) -> httpx.Response:
    body = {"amount": amount, "reason": reason, **extra}
    return client.post(HOLDS, json=body, headers=spend_headers(student, key or new_key()))


def act(
    client: httpx.Client,
    student: Account,
    hold_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> httpx.Response:
    """POST /holds/{id}/{action} (extend, capture, release) under a key (a new one if None)."""
    return client.post(
        f"{HOLDS}/{hold_id}/{action}",
        json=body,
        headers=spend_headers(student, key or new_key()),
    )


def new_hold(client: httpx.Client, student: Account, amount: int, **extra: Any) -> dict[str, Any]:
    response = create(client, student, amount, **extra)
    assert response.status_code == 201, response.text
    return dict(response.json())


def balances(client: httpx.Client, student: Account) -> dict[str, int]:
    """{balance, held, available} (the lots' paid/granted/expiring: tests/lots)."""
    response = client.get("/api/credits/balance", headers=student.headers)
    assert response.status_code == 200, response.text
    return {k: v for k, v in response.json().items() if k in ("balance", "held", "available")}


def expire_now(db: psycopg.Connection, hold_id: str, *, ago: str = "1 second") -> None:
    """The controllable clock: move a hold's expiry into the past, and its creation (and its
    closing, if it was closed) with it, so the hold stays a consistent story: created 61
    seconds ago, closed (if it was) 30 seconds ago, expiring `ago` (under 30 seconds) ago."""
    db.execute(
        f"""
        UPDATE credit_holds
           SET created_at = now() - interval '61 seconds',
               closed_at = CASE WHEN closed_at IS NOT NULL THEN now() - interval '30 seconds' END,
               expires_at = now() - interval '{ago}'
         WHERE id = %s
        """,
        (hold_id,),
    )


def hold_row(db: psycopg.Connection, hold_id: str) -> tuple[str, int, int | None]:
    row = db.execute(
        "SELECT status, amount, captured_amount FROM credit_holds WHERE id = %s", (hold_id,)
    ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1]), row[2]


def capture_entries(db: psycopg.Connection, hold_id: str) -> list[tuple[int, str]]:
    rows = db.execute(
        "SELECT amount, entry_type FROM credit_transactions"
        " WHERE source_type = 'USAGE' AND source_id = %s",
        (f"hold:{hold_id}",),
    ).fetchall()
    return [(int(a), str(t)) for a, t in rows]
