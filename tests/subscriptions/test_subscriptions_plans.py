"""The back office's plans: a Stripe Product and recurring Price each, listed cheapest first,
terms frozen once someone subscribed, a deactivated plan taking no new subscribers."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
import stripe as stripe_sdk

from tests.subscriptions.support import ADMIN_PLANS, create_plan, rows, sdk, subscribe
from tests.support.accounts import Account


def test_a_plan_is_a_stripe_product_with_a_recurring_price(
    client: httpx.Client, admin: Account, stripe_emulator: Any, db: psycopg.Connection
) -> None:
    plan = create_plan(client, admin, creditsPerPeriod=500, priceMinor=1500, interval="month",
                       rolloverMaxCredits=100, description="Five hundred a month")  # fmt: skip
    assert plan["creditsPerPeriod"] == 500
    assert plan["priceMinor"] == 1500
    assert (plan["interval"], plan["rolloverMaxCredits"], plan["isActive"]) == ("month", 100, True)
    [row] = rows(db, "SELECT * FROM plans WHERE id = %s", plan["id"])
    price = sdk(stripe_emulator).v1.prices.retrieve(row["stripe_price_id"])
    assert (price.unit_amount, price.currency, price.recurring.interval) == (1500, "gbp", "month")
    assert price.product == row["stripe_product_id"]

    listed = client.get("/api/plans").json()
    assert plan["id"] in [p["id"] for p in listed]
    assert [p["priceMinor"] for p in listed] == sorted(p["priceMinor"] for p in listed)
    assert client.get(f"/api/plans/{plan['id']}").json()["name"] == plan["name"]


def test_bad_plans_are_refused_and_nothing_is_made(
    client: httpx.Client, admin: Account, student: Account, db: psycopg.Connection
) -> None:
    (before,) = db.execute("SELECT count(*) FROM plans").fetchone() or (0,)
    taken = create_plan(client, admin)
    bad = [
        {"name": "x", "creditsPerPeriod": 0, "priceMinor": 1500, "interval": "month"},
        {"name": "x", "creditsPerPeriod": 10, "priceMinor": 29, "interval": "month"},
        {"name": "x", "creditsPerPeriod": 10, "priceMinor": 1500, "interval": "week"},
        {"name": "x", "creditsPerPeriod": 10, "priceMinor": 1500, "interval": "month",
         "rolloverMaxCredits": 11},
        {"name": "", "creditsPerPeriod": 10, "priceMinor": 1500, "interval": "month"},
    ]  # fmt: skip
    for body in bad:
        response = client.post(ADMIN_PLANS, json=body, headers=admin.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "validation_error"
    clash = client.post(
        ADMIN_PLANS,
        json={"name": taken["name"].upper(), "creditsPerPeriod": 1, "priceMinor": 100,
              "interval": "year"},
        headers=admin.headers,
    )  # fmt: skip
    assert (clash.status_code, clash.json()["code"]) == (409, "plan_name_taken")
    body = {"name": "y", "creditsPerPeriod": 1, "priceMinor": 100, "interval": "year"}
    forbidden = client.post(ADMIN_PLANS, json=body, headers=student.headers)
    assert forbidden.status_code == 403
    (after,) = db.execute("SELECT count(*) FROM plans").fetchone() or (0,)
    assert after == before + 1


def test_terms_are_frozen_once_subscribed_and_deactivation_stops_new_subscribers(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin, priceMinor=2000)
    path = f"{ADMIN_PLANS}/{plan['id']}"
    # Before anyone subscribed: a new price makes a new Stripe Price.
    repriced = client.patch(path, json={"priceMinor": 2500}, headers=admin.headers)
    assert repriced.status_code == 200, repriced.text
    [row] = rows(db, "SELECT * FROM plans WHERE id = %s", plan["id"])
    assert sdk(stripe_emulator).v1.prices.retrieve(row["stripe_price_id"]).unit_amount == 2500

    subscribe(client, stripe_emulator, student, plan["id"])
    in_use = client.patch(path, json={"creditsPerPeriod": 9}, headers=admin.headers)
    assert (in_use.status_code, in_use.json()["code"]) == (409, "plan_in_use")
    renamed = client.patch(path, json={"name": plan["name"] + " v2", "description": None},
                           headers=admin.headers)  # fmt: skip
    assert renamed.status_code == 200
    assert renamed.json()["creditsPerPeriod"] == 500
    assert renamed.json()["description"] is None
    product = sdk(stripe_emulator).v1.products.retrieve(row["stripe_product_id"])
    assert product.name == plan["name"] + " v2"

    off = client.patch(path, json={"isActive": False}, headers=admin.headers)
    assert off.status_code == 200
    assert off.json()["isActive"] is False
    assert plan["id"] not in [p["id"] for p in client.get("/api/plans").json()]
    # The subscriber keeps it.
    mine = client.get("/api/subscriptions/current", headers=student.headers).json()
    assert (mine["planId"], mine["status"]) == (plan["id"], "ACTIVE")


def test_deactivating_a_plan_archives_its_stripe_price_and_reactivating_restores_it(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    plan = create_plan(client, admin)
    path = f"{ADMIN_PLANS}/{plan['id']}"
    [row] = rows(db, "SELECT * FROM plans WHERE id = %s", plan["id"])
    stripe = sdk(stripe_emulator).v1

    def active_at_stripe() -> tuple[bool, bool]:
        price = stripe.prices.retrieve(row["stripe_price_id"])
        return price.active, stripe.products.retrieve(row["stripe_product_id"]).active

    off = client.patch(path, json={"isActive": False}, headers=admin.headers)
    assert off.status_code == 200, off.text
    assert active_at_stripe() == (False, False)
    # Stripe itself now refuses to sell it (not only our 422 plan_not_available).
    with pytest.raises(stripe_sdk.InvalidRequestError, match="inactive"):
        stripe.checkout.sessions.create(params={
            "mode": "subscription", "success_url": "https://example.com/ok",
            "line_items": [{"price": row["stripe_price_id"], "quantity": 1}],
        })  # fmt: skip
    on = client.patch(path, json={"isActive": True}, headers=admin.headers)
    assert (on.status_code, on.json()["isActive"]) == (200, True)
    assert active_at_stripe() == (True, True)
    subscribe(client, stripe_emulator, student, plan["id"])
    assert client.get("/api/subscriptions/current", headers=student.headers).json()["status"] == (
        "ACTIVE"
    )

    # Stripe fails (its Price gone): 502, our plan unchanged; sent again once Stripe is back,
    # the same PATCH deactivates both.
    price = stripe_emulator.emulator.store.prices.pop(row["stripe_price_id"])
    failed = client.patch(path, json={"isActive": False}, headers=admin.headers)
    assert failed.status_code == 502, failed.text
    [after] = rows(db, "SELECT is_active FROM plans WHERE id = %s", plan["id"])
    assert after["is_active"] is True
    stripe_emulator.emulator.store.prices[row["stripe_price_id"]] = price
    again = client.patch(path, json={"isActive": False}, headers=admin.headers)
    assert (again.status_code, again.json()["isActive"]) == (200, False)
    assert active_at_stripe() == (False, False)
    # The subscriber keeps the plan; only new subscriptions stop.
    mine = client.get("/api/subscriptions/current", headers=student.headers).json()
    assert (mine["planId"], mine["status"]) == (plan["id"], "ACTIVE")
