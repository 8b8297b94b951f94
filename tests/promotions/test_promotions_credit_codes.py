"""Credit codes: POST /api/credits/redeem, once per Idempotency-Key, within the code's limits."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance
from tests.credits.factory import make_student
from tests.promotions.support import (
    ADMIN_PATH,
    checkout,
    create_promotion,
    entries,
    redemptions,
)
from tests.support.accounts import Account
from tests.support.services import ServiceRunner
from tests.support.tiers import OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")
REDEEM_PATH = "/api/credits/redeem"


def redeem(
    client: httpx.Client, student: Account, code: str, key: str | None = None
) -> httpx.Response:
    return client.post(
        REDEEM_PATH, json={"code": code},
        headers={**student.headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )  # fmt: skip


def test_a_credit_code_grants_its_credits_once_per_key(
    client: httpx.Client, student: Account, admin: Account, db: psycopg.Connection
) -> None:
    promo = create_promotion(client, admin, grantCredits=75, creditsExpireDays=10)
    before = balance(db, student.id)
    key = str(uuid.uuid4())
    first = redeem(client, student, promo["code"].lower(), key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["credits"] == 75
    assert body["balance"] == before + 75
    expires = datetime.fromisoformat(body["expiresAt"])
    assert timedelta(days=9) < expires - datetime.now(UTC) <= timedelta(days=10)
    [entry] = entries(db, student.id, "PROMOTION_CODE")
    assert entry["amount"] == 75
    assert entry["metadata"]["expires_at"] is not None

    again = redeem(client, student, promo["code"], key)
    assert again.status_code == 201
    assert again.json() == body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert balance(db, student.id) == before + 75

    used = redeem(client, student, promo["code"])
    assert (used.status_code, used.json()["code"]) == (422, "promotion_already_used")
    replay = redeem(client, student, promo["code"], used.request.headers["Idempotency-Key"])
    assert replay.json()["code"] == "promotion_already_used"
    other = client.post(
        REDEEM_PATH, json={"code": "OTHER-CODE"},
        headers={**student.headers, "Idempotency-Key": key},
    )  # fmt: skip
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert [r["status"] for r in redemptions(db, promo["id"])] == ["REDEEMED"]
    counts = client.get(f"{ADMIN_PATH}/{promo['id']}", headers=admin.headers).json()["counts"]
    assert (counts["redeemed"], counts["creditsGranted"]) == (1, 75)


def test_codes_for_the_wrong_place_and_unknown_codes(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    purchase = create_promotion(client, admin, discountPercent=10)
    sent_here = redeem(client, student, purchase["code"])
    assert (sent_here.status_code, sent_here.json()["code"]) == (422, "promotion_not_applicable")
    credit = create_promotion(client, admin, grantCredits=10)
    at_checkout = checkout(client, student, packages["starter"]["id"], credit["code"])
    assert (at_checkout.status_code, at_checkout.json()["code"]) == (
        422,
        "promotion_not_applicable",
    )
    unknown = redeem(client, student, "NOPE-NOPE")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "promotion_not_found")
    missing_key = client.post(REDEEM_PATH, json={"code": credit["code"]}, headers=student.headers)
    assert missing_key.status_code == 400
    assert entries(db, student.id, "PROMOTION_CODE") == []
    assert redemptions(db, credit["id"]) == []


async def test_fifty_students_race_for_five_credit_codes(
    new_async_client: OpenHttp, client: httpx.Client, admin: Account, services: ServiceRunner,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, grantCredits=20, maxRedemptions=5)
    students = [make_student(services) for _ in range(50)]
    async with new_async_client(timeout=120) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    REDEEM_PATH,
                    json={"code": promo["code"]},
                    headers={**s.headers, "Idempotency-Key": str(uuid.uuid4())},
                )
                for s in students
            )
        )
    assert Counter(r.status_code for r in responses) == {201: 5, 422: 45}
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"promotion_exhausted"}
    granted = db.execute(
        "SELECT count(*), sum(amount) FROM credit_transactions WHERE source_type = 'PROMOTION_CODE'"
    ).fetchone()
    assert granted == (5, 100)
