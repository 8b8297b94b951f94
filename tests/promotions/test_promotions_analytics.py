"""The figures: the analytics summary and daily rows count the discounts given (pence) and the
credits promotions granted; the dashboard shows them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.analytics.support import todays_figures
from tests.checkout.support import settle_webhooks
from tests.promotions.support import checkout, create_promotion

pytestmark = pytest.mark.usefixtures("invariants")


def test_discounts_and_promotion_credits_are_counted(
    client: httpx.Client, admin: Any, student: Any, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    summary, day = todays_figures(client, admin)
    assert (summary["discounts"], summary["promotionCredits"]) == (0, 0)
    assert (day["discounts"], day["promotionCredits"]) == (0, 0)
    promo = create_promotion(client, admin, discountPercent=20, bonusCredits=15)
    gift = create_promotion(client, admin, grantCredits=30)
    opened = checkout(client, student, packages["starter"]["id"], promo["code"])
    stripe_emulator.pay(opened.json()["sessionId"])
    settle_webhooks(stripe_emulator)
    redeemed = client.post(
        "/api/credits/redeem", json={"code": gift["code"]},
        headers={**student.headers, "Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert redeemed.status_code == 201
    summary, day = todays_figures(client, admin)
    assert (summary["discounts"], summary["promotionCredits"]) == (200, 45)
    assert (day["discounts"], day["promotionCredits"]) == (200, 45)
    assert summary["money"]["grossRevenue"] == 800  # what was paid
