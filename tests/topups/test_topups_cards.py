"""Saving, listing and removing cards; saveCard on a purchase; the settings' validation."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.checkout.support import start_checkout, stripe_client
from tests.support.accounts import Account, sign_up
from tests.support.mailbox import Mailbox
from tests.topups.support import MASTERCARD, VISA, save_card, turn_on


def test_a_setup_checkout_saves_a_card_that_the_wallet_lists(
    client: httpx.Client, student: Account, stripe_emulator: Any, invariants: None
) -> None:
    assert client.get("/api/credits/payment-methods", headers=student.headers).json() == []
    pm = save_card(client, student, stripe_emulator, VISA)
    cards = client.get("/api/credits/payment-methods", headers=student.headers).json()
    assert cards == [
        {"id": pm, "brand": "visa", "last4": "4242", "expMonth": cards[0]["expMonth"],
         "expYear": cards[0]["expYear"]}
    ]  # fmt: skip
    assert isinstance(cards[0]["expYear"], int)


def test_a_purchase_with_save_card_saves_the_card(
    client: httpx.Client,
    student: Account,
    stripe_emulator: Any,
    packages: dict[str, dict[str, Any]],
    invariants: None,
) -> None:
    response = client.post(
        "/api/payments/credit-checkout",
        json={"packageId": packages["starter"]["id"], "saveCard": True},
        headers=student.headers,
    )
    assert response.status_code == 201, response.text
    stripe_emulator.pay(response.json()["sessionId"], MASTERCARD)
    stripe_emulator.wait_for_deliveries()
    session = stripe_client(stripe_emulator).v1.checkout.sessions.retrieve(
        response.json()["sessionId"], params={"expand": ["payment_intent"]}
    )
    assert session.payment_intent.setup_future_usage == "off_session"
    cards = client.get("/api/credits/payment-methods", headers=student.headers).json()
    assert [c["last4"] for c in cards] == ["4444"]
    # A purchase without it saves nothing.
    plain = start_checkout(client, student, packages["starter"]["id"])
    stripe_emulator.pay(plain["sessionId"], VISA)
    stripe_emulator.wait_for_deliveries()
    assert len(client.get("/api/credits/payment-methods", headers=student.headers).json()) == 1


def test_removing_a_card_detaches_it_and_turns_top_up_off(
    client: httpx.Client,
    student: Account,
    mailbox: Mailbox,
    stripe_emulator: Any,
    packages: dict[str, dict[str, Any]],
    db: psycopg.Connection,
) -> None:
    pm = save_card(client, student, stripe_emulator)
    assert turn_on(client, student, packages["starter"], threshold=10)["state"] == "ACTIVE"
    other = sign_up(client, mailbox)
    # Another student's card: 404, nothing detached.
    answer = client.delete(f"/api/credits/payment-methods/{pm}", headers=other.headers)
    assert (answer.status_code, answer.json()["code"]) == (404, "payment_method_not_found")
    assert len(client.get("/api/credits/payment-methods", headers=student.headers).json()) == 1

    assert (
        client.delete(f"/api/credits/payment-methods/{pm}", headers=student.headers).status_code
        == 204
    )
    assert client.get("/api/credits/payment-methods", headers=student.headers).json() == []
    settings = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert (settings["state"], settings["enabled"], settings["paymentMethod"]) == (
        "OFF",
        False,
        None,
    )
    stripe_pm = stripe_client(stripe_emulator).v1.payment_methods.retrieve(pm)
    assert stripe_pm.customer is None


def test_settings_are_validated(
    client: httpx.Client,
    student: Account,
    admin: Account,
    stripe_emulator: Any,
    packages: dict[str, dict[str, Any]],
) -> None:
    starter = packages["starter"]  # 1000p
    # No saved card yet: 409, nothing stored.
    refused = client.put(
        "/api/credits/auto-top-up",
        json={"enabled": True, "thresholdCredits": 10, "packageId": starter["id"],
              "monthlyLimitMinor": 5000},
        headers=student.headers,
    )  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (409, "no_saved_card")
    assert client.get("/api/credits/auto-top-up", headers=student.headers).json()["state"] == "OFF"
    save_card(client, student, stripe_emulator)
    body = {"enabled": True, "thresholdCredits": 10, "packageId": starter["id"],
            "monthlyLimitMinor": 999}  # fmt: skip
    below = client.put("/api/credits/auto-top-up", json=body, headers=student.headers)
    assert (below.status_code, below.json()["code"]) == (422, "monthly_limit_below_price")
    for bad in ({"thresholdCredits": -1}, {"thresholdCredits": 100_001}, {"enabled": "yes"},
                {"monthlyLimitMinor": 0}):  # fmt: skip
        answer = client.put("/api/credits/auto-top-up", json=body | bad, headers=student.headers)
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), bad
    client.delete(f"/api/credit-packages/{packages['value']['id']}", headers=admin.headers)
    inactive = client.put(
        "/api/credits/auto-top-up",
        json=body | {"packageId": packages["value"]["id"], "monthlyLimitMinor": 9000},
        headers=student.headers,
    )
    assert (inactive.status_code, inactive.json()["code"]) == (422, "top_up_package_inactive")
    assert (
        client.get("/api/credits/auto-top-up", headers=student.headers).json()["enabled"] is False
    )
    ok = turn_on(client, student, starter, threshold=10, limit=5000)
    assert (ok["state"], ok["thresholdCredits"], ok["monthlyLimitMinor"]) == ("ACTIVE", 10, 5000)
    assert ok["paymentMethod"]["last4"] == "4242"
    assert (ok["spentThisMonthMinor"], ok["attempts"]) == (0, [])
