"""Limits that hold under load: racing checkouts queue on the promotion's row lock and the
late ones are refused; the live-place UNIQUE indexes would refuse any that slipped through."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import settle_webhooks
from tests.credits.factory import make_student
from tests.promotions.support import CHECKOUT_PATH, checkout, create_promotion, redemptions
from tests.support.accounts import Account
from tests.support.services import ServiceRunner
from tests.support.tiers import BOTH_TIERS, OpenHttp

pytestmark = pytest.mark.usefixtures("invariants")


async def _race(
    open_http: OpenHttp, attempts: list[tuple[Account, dict[str, Any]]]
) -> list[httpx.Response]:
    async with open_http(timeout=120) as http:
        return list(
            await asyncio.gather(
                *(
                    http.post(CHECKOUT_PATH, json=body, headers=who.headers)
                    for who, body in attempts
                )
            )
        )


def _live(db: psycopg.Connection, promotion_id: str) -> int:
    return sum(r["status"] in ("RESERVED", "REDEEMED") for r in redemptions(db, promotion_id))


@BOTH_TIERS
async def test_a_hundred_students_race_for_ten_places(
    tier: str, new_async_client: OpenHttp, client: httpx.Client, admin: Account,
    services: ServiceRunner, packages: dict[str, Any], db: psycopg.Connection,
    stripe_emulator: Any,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=10, maxRedemptions=10)
    students = [make_student(services) for _ in range(100)]
    body = {"packageId": packages["starter"]["id"], "promotionCode": promo["code"]}
    responses = await _race(new_async_client, [(s, body) for s in students])

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 422: 90}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"promotion_exhausted"}
    assert _live(db, promo["id"]) == 10
    slots = sorted(r["slot"] for r in redemptions(db, promo["id"]))
    assert slots == list(range(1, 11))
    opened = db.execute(
        "SELECT count(*) FROM checkout_sessions WHERE promotion_id = %s", (promo["id"],)
    ).fetchone()
    assert opened == (10,)

    # An expired session's reservation frees its place, and only that one.
    winner = next(r.json()["sessionId"] for r in responses if r.status_code == 201)
    stripe_emulator.expire(winner)
    settle_webhooks(stripe_emulator)
    late = [s for s, r in zip(students, responses, strict=True) if r.status_code == 422]
    again = await _race(new_async_client, [(s, body) for s in late[:5]])
    assert Counter(r.status_code for r in again) == {201: 1, 422: 4}
    assert _live(db, promo["id"]) == 10


async def test_one_student_racing_a_code_gets_it_once(
    new_async_client: OpenHttp, client: httpx.Client, admin: Account, student: Account,
    packages: dict[str, Any], db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, bonusCredits=10, maxPerStudent=2)
    body = {"packageId": packages["starter"]["id"], "promotionCode": promo["code"]}
    responses = await _race(new_async_client, [(student, body)] * 12)
    # Two uses, two sessions; a request that came after a session was recorded gets that
    # session back (a retried checkout), every other one is refused.
    opened = {r.json()["sessionId"] for r in responses if r.status_code == 201}
    assert len(opened) == 2
    assert {r.status_code for r in responses} <= {201, 422}
    assert {r.json()["code"] for r in responses if r.status_code == 422} <= {
        "promotion_already_used"
    }
    assert sorted(r["student_slot"] for r in redemptions(db, promo["id"])) == [1, 2]


async def test_two_first_purchase_codes_raced_by_one_student(
    new_async_client: OpenHttp, client: httpx.Client, admin: Account, student: Account,
    packages: dict[str, Any], db: psycopg.Connection,
) -> None:  # fmt: skip
    codes = [
        create_promotion(client, admin, bonusCredits=10, firstPurchaseOnly=True) for _ in range(4)
    ]
    attempts = [
        (student, {"packageId": packages["starter"]["id"], "promotionCode": p["code"]})
        for p in codes
        for _ in range(3)
    ]
    responses = await _race(new_async_client, attempts)
    assert len({r.json()["sessionId"] for r in responses if r.status_code == 201}) == 1
    # The student's lock comes before the promotion's: the first-purchase rule answers.
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"first_purchase_only"}
    assert sum(_live(db, p["id"]) for p in codes) == 1


def test_the_database_refuses_a_second_live_use_of_a_place(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    promo = create_promotion(client, admin, discountPercent=10, maxRedemptions=3)
    assert checkout(client, student, packages["starter"]["id"], promo["code"]).status_code == 201
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            """INSERT INTO promotion_redemptions (promotion_id, student_id, status, slot,
                                                  student_slot)
               SELECT promotion_id, student_id, 'RESERVED', slot, 2 FROM promotion_redemptions
                WHERE promotion_id = %s""",
            (promo["id"],),
        )


def test_a_lapsed_claim_gives_its_place_to_the_next_checkout(
    client: httpx.Client, admin: Account, student: Account, services: ServiceRunner,
    packages: dict[str, Any], db: psycopg.Connection,
) -> None:  # fmt: skip
    """A checkout that reserved and then died before recording its session (a crash while
    Stripe was asked) holds its place only until its claim lapses."""
    promo = create_promotion(client, admin, discountPercent=10, maxRedemptions=1)
    crashed = make_student(services)
    db.execute(
        """INSERT INTO promotion_redemptions (promotion_id, student_id, status, slot,
                                              student_slot, claimed_until)
           VALUES (%s, %s, 'RESERVED', 1, 1, now() + interval '5 minutes')""",
        (promo["id"], crashed.id),
    )
    held = checkout(client, student, packages["starter"]["id"], promo["code"])
    assert (held.status_code, held.json()["code"]) == (422, "promotion_exhausted")
    db.execute("UPDATE promotion_redemptions SET claimed_until = now() - interval '1 second'")
    freed = checkout(client, student, packages["starter"]["id"], promo["code"])
    assert freed.status_code == 201, freed.text
    statuses = {(r["student_id"].hex, r["status"], r["release_reason"])
                for r in redemptions(db, promo["id"])}  # fmt: skip
    assert statuses == {
        (crashed.id.replace("-", ""), "RELEASED", "claim_lapsed"),
        (student.id.replace("-", ""), "RESERVED", None),
    }


def test_the_database_allows_one_open_first_purchase_per_student(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    db: psycopg.Connection,
) -> None:  # fmt: skip
    first = create_promotion(client, admin, bonusCredits=5, firstPurchaseOnly=True)
    other = create_promotion(client, admin, bonusCredits=5, firstPurchaseOnly=True)
    assert checkout(client, student, packages["starter"]["id"], first["code"]).status_code == 201
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            """INSERT INTO promotion_redemptions (promotion_id, student_id, status, student_slot,
                                                  first_purchase)
               VALUES (%s, %s, 'RESERVED', 1, true)""",
            (other["id"], student.id),
        )
