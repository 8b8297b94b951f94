"""Money going back on a discounted purchase: invariant 8 on what was paid, the bonus going
back by the same rule, the use released by a full refund (not after fraud), and nothing to
refund when nothing was paid."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance, payments_for, settle_webhooks
from tests.payments.returns_support import admin_refund, new_key, payment_row
from tests.promotions.support import checkout, create_promotion, entries, redemptions
from tests.support.accounts import Account

pytestmark = pytest.mark.usefixtures("invariants")


def _buy(
    client: httpx.Client, emulator: Any, db: psycopg.Connection, student: Account,
    package_id: str, code: str,
) -> str:  # fmt: skip
    created = checkout(client, student, package_id, code)
    assert created.status_code == 201, created.text
    emulator.pay(created.json()["sessionId"])
    settle_webhooks(emulator)
    (payment,) = payments_for(db, created.json()["sessionId"])
    return str(payment["id"])


def test_refunds_take_back_on_what_was_paid_with_the_bonus(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=20, bonusCredits=15)
    before = balance(db, student.id)
    payment_id = _buy(
        client, stripe_emulator, db, student, packages["starter"]["id"], promo["code"]
    )
    assert payment_row(db, payment_id)["amount_pence"] == 800
    assert balance(db, student.id) == before + 115

    half = admin_refund(client, admin, payment_id, key=new_key(), amount=400)
    assert half.status_code == 201, half.text
    settle_webhooks(stripe_emulator)
    # ceil(100 * 400 / 800) = 50 of the purchase, ceil(15 * 400 / 800) = 8 of the bonus.
    assert payment_row(db, payment_id)["credits_clawed_back"] == 50
    [redeemed] = redemptions(db, promo["id"])
    assert (redeemed["status"], redeemed["bonus_taken_back"]) == ("REDEEMED", 8)
    assert balance(db, student.id) == before + 115 - 58

    rest = admin_refund(client, admin, payment_id, key=new_key(), amount=400)
    assert rest.status_code == 201, rest.text
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before
    [released] = redemptions(db, promo["id"])
    assert (released["status"], released["release_reason"]) == ("RELEASED", "refunded")
    assert released["bonus_taken_back"] == 15
    # The use is free again: the student may use the code once more.
    again = checkout(client, student, packages["starter"]["id"], promo["code"])
    assert again.status_code == 201, again.text


def test_a_refund_for_fraud_keeps_the_use(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountAmountMinor=500)
    payment_id = _buy(
        client, stripe_emulator, db, student, packages["starter"]["id"], promo["code"]
    )
    refund = admin_refund(client, admin, payment_id, key=new_key(), reason="fraudulent")
    assert refund.status_code == 201, refund.text
    settle_webhooks(stripe_emulator)
    assert payment_row(db, payment_id)["status"] == "REFUNDED"
    assert [r["status"] for r in redemptions(db, promo["id"])] == ["REDEEMED"]
    again = checkout(client, student, packages["starter"]["id"], promo["code"])
    assert (again.status_code, again.json()["code"]) == (422, "promotion_already_used")


def test_a_purchase_with_nothing_paid_cannot_be_refunded(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=100, bonusCredits=5)
    payment_id = _buy(
        client, stripe_emulator, db, student, packages["starter"]["id"], promo["code"]
    )
    before = balance(db, student.id)
    refused = admin_refund(client, admin, payment_id, key=new_key())
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "amount_not_refundable"
    assert balance(db, student.id) == before
    assert payment_row(db, payment_id)["status"] == "SUCCEEDED"
    assert [e["amount"] for e in entries(db, student.id, "PROMOTION_BONUS")] == [5]


def test_the_refund_preview_counts_the_bonus(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=20, bonusCredits=100)
    payment_id = _buy(
        client, stripe_emulator, db, student, packages["starter"]["id"], promo["code"]
    )
    # Leave 60 credits: 100 bought + 100 bonus + the welcome bonus, mostly spent.
    spend = balance(db, student.id) - 60
    spent = client.post(
        "/api/credits/spend", json={"amount": spend, "reason": "use"},
        headers={**student.headers, "Idempotency-Key": new_key()},
    )  # fmt: skip
    assert spent.status_code == 201, spent.text
    preview = client.get(
        f"/api/admin/payments/{payment_id}/refund-preview", headers=admin.headers
    ).json()
    assert preview["creditsToClawBack"] == 200  # the whole purchase and its whole bonus
    most = preview["refundableWithoutNegativeBalance"]
    # ceil(100 R / 800) + ceil(100 R / 800) <= 60: R = 240 (30 + 30), not 241 (31 + 31).
    assert most == 240
    ok = admin_refund(client, admin, payment_id, key=new_key(), amount=most)
    assert ok.status_code == 201, ok.text
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == 0
