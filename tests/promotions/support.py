"""Promotions the way the back office makes them, and database look-ups."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from tests.support.accounts import Account

ADMIN_PATH = "/api/admin/promotions"


def unique_code(prefix: str = "PROMO") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}".upper()


def create_promotion(client: httpx.Client, admin: Account, **fields: Any) -> dict[str, Any]:
    body = {"code": unique_code(), **fields}
    response = client.post(ADMIN_PATH, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def redemptions(db: psycopg.Connection, promotion_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        "SELECT * FROM promotion_redemptions WHERE promotion_id = %s ORDER BY created_at",
        (promotion_id,),
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def promotion_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM promotions").fetchone()
    assert row is not None
    return int(row[0])


PREVIEW_PATH = "/api/payments/credit-checkout/preview"
CHECKOUT_PATH = "/api/payments/credit-checkout"


def checkout(
    client: httpx.Client, student: Account, package_id: str, code: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"packageId": package_id}
    if code is not None:
        body["promotionCode"] = code
    return client.post(CHECKOUT_PATH, json=body, headers=student.headers)


def preview(
    client: httpx.Client, student: Account, package_id: str, code: str | None = None
) -> httpx.Response:
    params = {"packageId": package_id}
    if code is not None:
        params["promotionCode"] = code
    return client.get(PREVIEW_PATH, params=params, headers=student.headers)


def entries(db: psycopg.Connection, student_id: str, source_type: str) -> list[dict[str, Any]]:
    cursor = db.execute(
        """SELECT amount, source_id, metadata, idempotency_key FROM credit_transactions
            WHERE student_id = %s AND source_type = %s ORDER BY seq""",
        (student_id, source_type),
    )
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def session_count(db: psycopg.Connection, student_id: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM checkout_sessions WHERE student_id = %s", (student_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])
