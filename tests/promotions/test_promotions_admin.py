"""The back office's promotions: create with every validation, read with figures, change."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.credits.factory import make_student
from tests.promotions.support import (
    ADMIN_PATH,
    checkout,
    create_promotion,
    promotion_count,
    unique_code,
)
from tests.support.accounts import Account


def test_create_a_discount_and_read_it_back(
    client: httpx.Client, admin: Account, packages: dict[str, Any]
) -> None:
    code = unique_code().lower()
    made = create_promotion(
        client, admin, code=code, description=" Spring ", discountPercent=20,
        bonusCredits=10, creditsExpireDays=30, packageIds=[packages["starter"]["id"]],
        minAmountMinor=500, maxRedemptions=10, startsAt="2026-01-01T00:00:00Z",
        endsAt="2030-01-01T00:00:00Z",
    )  # fmt: skip
    assert made["code"] == code.upper()  # stored upper-cased
    assert made["kind"] == "purchase"
    assert made["description"] == "Spring"
    assert (made["discountPercent"], made["bonusCredits"], made["maxPerStudent"]) == (20, 10, 1)
    assert made["packageIds"] == [packages["starter"]["id"]]
    assert made["firstPurchaseOnly"] is False
    assert made["autoApply"] is False
    assert made["active"] is True
    assert made["counts"] == {"reserved": 0, "redeemed": 0, "released": 0,
                              "discountsGiven": 0, "creditsGranted": 0}  # fmt: skip

    one = client.get(f"{ADMIN_PATH}/{made['id']}", headers=admin.headers)
    assert one.status_code == 200
    assert one.json() == made
    listed = client.get(ADMIN_PATH, headers=admin.headers).json()
    assert [p["id"] for p in listed] == [made["id"]]


def test_a_credit_code_is_grant_credits_alone(client: httpx.Client, admin: Account) -> None:
    made = create_promotion(client, admin, grantCredits=50, maxRedemptions=100)
    assert made["kind"] == "credits"
    assert made["grantCredits"] == 50


@pytest.mark.parametrize(
    "body",
    [
        {"code": "ab1"},  # too short
        {"code": "A" * 41},
        {"code": "BAD CODE"},
        {"code": "ÉCOLE1"},
        {},  # neither a purchase change nor a grant
        {"description": "nothing"},
        {"discountPercent": 0},
        {"discountPercent": 101},
        {"discountPercent": 10, "discountAmountMinor": 100},
        {"discountAmountMinor": 0},
        {"bonusCreditsPercent": 501},
        {"bonusCreditsPercent": 10, "bonusCredits": 5},
        {"grantCredits": 10, "discountPercent": 10},
        {"grantCredits": 10, "bonusCredits": 10},
        {"grantCredits": 10, "autoApply": True},
        {"grantCredits": 10, "firstPurchaseOnly": True},
        {"grantCredits": 10, "minAmountMinor": 100},
        {"grantCredits": 0},
        {"discountPercent": 10, "maxRedemptions": 0},
        {"discountPercent": 10, "maxPerStudent": 0},
        {"discountPercent": 10, "creditsExpireDays": 0},
        {"discountPercent": "10"},
        {"discountPercent": 10.5},
        {"discountPercent": 10, "startsAt": "2030-01-01T00:00:00Z",
         "endsAt": "2029-01-01T00:00:00Z"},
        {"discountPercent": 10, "packageIds": []},
        {"discountPercent": 10, "packageIds": ["00000000-0000-0000-0000-000000000001"]},
        {"discountPercent": 10, "startsAt": "2030-01-01"},
    ],
)  # fmt: skip
def test_invalid_promotions_are_422_and_nothing_is_written(
    client: httpx.Client, admin: Account, db: psycopg.Connection, body: dict[str, Any]
) -> None:
    response = client.post(ADMIN_PATH, json={"code": unique_code(), **body}, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert "error" in response.json()
    assert promotion_count(db) == 0


def test_a_code_is_unique_whatever_its_case(
    client: httpx.Client, admin: Account, db: psycopg.Connection
) -> None:
    code = unique_code()
    create_promotion(client, admin, code=code, discountPercent=10)
    again = client.post(
        ADMIN_PATH, json={"code": code.lower(), "bonusCredits": 5}, headers=admin.headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "promotion_code_taken"
    assert promotion_count(db) == 1


def test_one_active_auto_apply_promotion_at_a_time(client: httpx.Client, admin: Account) -> None:
    first = create_promotion(client, admin, bonusCredits=10, autoApply=True, firstPurchaseOnly=True)
    second = client.post(
        ADMIN_PATH, json={"code": unique_code(), "discountPercent": 5, "autoApply": True},
        headers=admin.headers,
    )  # fmt: skip
    assert second.status_code == 409
    assert second.json()["code"] == "promotion_auto_apply_taken"
    # Deactivated, the first frees the place; reactivating it while another holds it is a 409.
    off = client.patch(f"{ADMIN_PATH}/{first['id']}", json={"active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert off.json()["active"] is False
    create_promotion(client, admin, discountPercent=5, autoApply=True)
    back = client.patch(f"{ADMIN_PATH}/{first['id']}", json={"active": True}, headers=admin.headers)
    assert back.status_code == 409
    assert back.json()["code"] == "promotion_auto_apply_taken"


def test_patch_changes_only_what_is_sent(client: httpx.Client, admin: Account) -> None:
    made = create_promotion(client, admin, discountPercent=10, description="old", maxRedemptions=5)
    changed = client.patch(
        f"{ADMIN_PATH}/{made['id']}",
        json={"description": "new", "maxRedemptions": 7, "endsAt": "2031-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["description"], body["maxRedemptions"]) == ("new", 7)
    assert body["endsAt"].startswith("2031-01-01")
    assert body["discountPercent"] == 10
    ignored = client.patch(
        f"{ADMIN_PATH}/{made['id']}", json={"discountPercent": 50}, headers=admin.headers
    )
    assert ignored.status_code == 200
    assert ignored.json()["discountPercent"] == 10


def test_unknown_promotion_is_404_and_students_are_403(
    client: httpx.Client, admin: Account, student: Account
) -> None:
    missing = client.get(
        f"{ADMIN_PATH}/00000000-0000-0000-0000-000000000001", headers=admin.headers
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_such_promotion"
    forbidden = client.post(
        ADMIN_PATH, json={"code": unique_code(), "discountPercent": 5}, headers=student.headers
    )
    assert forbidden.status_code == 403


def test_the_limit_never_goes_below_the_live_uses(
    client: httpx.Client, admin: Account, student: Account, services: Any,
    packages: dict[str, Any], db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=10, maxRedemptions=5)
    other = make_student(services)
    for who in (student, other):
        assert checkout(client, who, packages["starter"]["id"], promo["code"]).status_code == 201
    lowered = client.patch(
        f"{ADMIN_PATH}/{promo['id']}", json={"maxRedemptions": 1}, headers=admin.headers
    )
    assert lowered.status_code == 409
    assert lowered.json()["code"] == "promotion_limit_below_uses"
    to_two = client.patch(
        f"{ADMIN_PATH}/{promo['id']}", json={"maxRedemptions": 2}, headers=admin.headers
    )
    assert to_two.status_code == 200
    assert to_two.json()["counts"]["reserved"] == 2
    third = checkout(client, make_student(services), packages["starter"]["id"], promo["code"])
    assert (third.status_code, third.json()["code"]) == (422, "promotion_exhausted")
