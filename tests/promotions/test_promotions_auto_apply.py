"""The auto-apply promotion: offered without typing to every eligible student; with
firstPurchaseOnly, the first-time buyer bonus."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import assert_paid_once, settle_webhooks
from tests.promotions.support import (
    ADMIN_PATH,
    checkout,
    create_promotion,
    entries,
    preview,
    redemptions,
)
from tests.support.accounts import Account

pytestmark = pytest.mark.usefixtures("invariants")


def test_the_first_time_buyer_bonus_applies_once_without_a_code(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    welcome = create_promotion(
        client, admin, bonusCredits=50, firstPurchaseOnly=True, autoApply=True
    )
    starter = packages["starter"]["id"]
    offered = preview(client, student, starter)
    assert offered.status_code == 200
    assert (offered.json()["bonusCredits"], offered.json()["promotionCode"]) == (
        50,
        welcome["code"],
    )
    assert offered.json()["amount"] == 1000
    opened = checkout(client, student, starter)
    assert opened.status_code == 201
    assert opened.json()["promotionCode"] == welcome["code"]
    stripe_emulator.pay(opened.json()["sessionId"])
    settle_webhooks(stripe_emulator)
    assert_paid_once(db, student.id, opened.json()["sessionId"], 100, 1000)
    assert [e["amount"] for e in entries(db, student.id, "PROMOTION_BONUS")] == [50]

    # Not a first purchase any more: no offer, and the checkout simply has none.
    later = preview(client, student, starter).json()
    assert (later["bonusCredits"], later["promotionCode"]) == (0, None)
    second = checkout(client, student, starter)
    assert second.status_code == 201
    assert second.json()["promotionCode"] is None
    assert [r["status"] for r in redemptions(db, welcome["id"])] == ["REDEEMED"]


def test_a_typed_code_wins_over_the_auto_apply_offer(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    auto = create_promotion(client, admin, bonusCredits=5, autoApply=True)
    typed = create_promotion(client, admin, discountPercent=50)
    opened = checkout(client, student, packages["value"]["id"], typed["code"])
    assert opened.status_code == 201
    assert (opened.json()["promotionCode"], opened.json()["amount"]) == (typed["code"], 2250)
    assert redemptions(db, auto["id"]) == []


def test_an_exhausted_or_inactive_auto_apply_offer_is_simply_not_offered(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    auto = create_promotion(
        client, admin, discountPercent=10, autoApply=True, packageIds=[packages["premium"]["id"]]
    )
    # Another package: not applicable, so not offered (and nothing written).
    plain = checkout(client, student, packages["starter"]["id"])
    assert plain.status_code == 201
    assert (plain.json()["promotionCode"], plain.json()["amount"]) == (None, 1000)
    client.patch(f"{ADMIN_PATH}/{auto['id']}", json={"active": False}, headers=admin.headers)
    premium = checkout(client, student, packages["premium"]["id"])
    assert premium.json()["promotionCode"] is None
    assert redemptions(db, auto["id"]) == []
