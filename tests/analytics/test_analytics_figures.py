"""GET /api/admin/analytics/summary and /daily: pence and counts, GBP, Europe/London days,
moved by real purchases, refunds and disputes through the emulator."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.analytics.service import DayRange, InvalidRange, day_range, today_in_london
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, payments_for, start_checkout, wait_until
from tests.support.accounts import Account


def test_london_days_follow_summer_time() -> None:
    summer = DayRange(date(2026, 7, 1), date(2026, 7, 1))
    assert summer.start == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert summer.end == datetime(2026, 7, 1, 23, 0, tzinfo=UTC)
    winter = DayRange(date(2026, 12, 1), date(2026, 12, 2))
    assert winter.start == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert winter.days == 2
    # The day the clocks go forward has 23 hours.
    spring = DayRange(date(2026, 3, 29), date(2026, 3, 29))
    assert spring.end - spring.start == timedelta(hours=23)
    assert today_in_london(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(2026, 7, 2)


def test_ranges_are_checked() -> None:
    with pytest.raises(InvalidRange):
        day_range(date(2026, 2, 2), date(2026, 2, 1))
    with pytest.raises(InvalidRange):
        day_range(date(2025, 1, 1), date(2026, 12, 31), max_days=366)
    default = day_range(None, None)
    assert default.days == 30
    assert default.last == today_in_london()


def _summary(client: httpx.Client, admin: Account, **params: str) -> dict[str, Any]:
    response = client.get("/api/admin/analytics/summary", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _today(client: httpx.Client, admin: Account) -> dict[str, Any]:
    today = today_in_london().isoformat()
    return _summary(client, admin, **{"from": today, "to": today})


def _paid(
    client: httpx.Client, student: Account, package: dict[str, Any], emulator: EmulatorServer
) -> str:
    session_id = start_checkout(client, student, package["id"])["sessionId"]
    emulator.pay(session_id)
    emulator.wait_for_deliveries(timeout=20)
    return session_id


# A day no other test writes to: this test's rows are moved there once they are settled, so
# that its figures are exact whatever else the suite adds to today's.
OWN_DAY = "2018-05-15"


def _move_to_own_day(db: psycopg.Connection, session_ids: list[str]) -> None:
    at = f"{OWN_DAY} 12:00:00+01"
    db.execute(
        "UPDATE checkout_sessions SET created_at = %s, completed_at = %s"
        " WHERE stripe_session_id = ANY(%s)", (at, at, session_ids),
    )  # fmt: skip
    db.execute(
        "UPDATE payments SET paid_at = %s WHERE stripe_checkout_session_id = ANY(%s)",
        (at, session_ids),
    )
    for table in ("refunds", "disputes"):
        db.execute(
            f"UPDATE {table} SET created_at = %s WHERE payment_id IN"
            " (SELECT id FROM payments WHERE stripe_checkout_session_id = ANY(%s))",
            (at, session_ids),
        )


def test_a_purchase_a_refund_and_a_dispute_move_the_figures(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = _today(client, admin)
    starter = _paid(client, student, packages["starter"], stripe_emulator)
    value = _paid(client, student, packages["value"], stripe_emulator)
    sold = _today(client, admin)
    assert sold["currency"] == "GBP"
    assert sold["timezone"] == "Europe/London"
    # Today's figures include the two sales (and whatever else the suite is doing).
    assert sold["money"]["grossRevenue"] >= before["money"]["grossRevenue"] + 5500
    assert sold["creditsOutstanding"] >= balance(db, student.id)

    # A refund of £4.00 of the Starter Pack, and a dispute of the whole Value Pack.
    intent = payments_for(db, starter)[0]["stripe_payment_intent_id"]
    stripe_emulator.refund(payment_intent=intent, amount=400)
    disputed = payments_for(db, value)[0]["stripe_payment_intent_id"]
    stripe_emulator.dispute(payment_intent=disputed)
    stripe_emulator.wait_for_deliveries(timeout=20)
    wait_until(
        lambda: (
            db.execute(
                "SELECT count(*) FROM disputes d JOIN payments p ON p.id = d.payment_id"
                " WHERE p.stripe_checkout_session_id = %s AND d.funds_withdrawn_pence > 0",
                (value,),
            ).fetchone()
            == (1,)
        ),
        what="the dispute's funds withdrawn",
    )
    _move_to_own_day(db, [starter, value])

    day = _summary(client, admin, **{"from": OWN_DAY, "to": OWN_DAY})
    assert day["money"] == {
        "payments": 2, "grossRevenue": 5500, "refundCount": 1, "refunds": 400,
        "disputeCount": 1, "disputes": 4500, "netRevenue": 5500 - 400 - 4500,
        # No credit was used on that day (lots' movements stayed on today).
        "recognisedRevenue": 0, "breakage": 0,
    }  # fmt: skip
    assert day["checkouts"] == {
        "created": 2, "completed": 2, "expired": 0, "failed": 0, "pending": 0,
    }  # fmt: skip
    assert sorted(day["byPackage"], key=lambda p: p["revenue"]) == [
        {"packageName": packages["starter"]["name"], "payments": 1, "revenue": 1000,
         "credits": 100},
        {"packageName": packages["value"]["name"], "payments": 1, "revenue": 4500,
         "credits": 500},
    ]  # fmt: skip
    assert day["openDisputes"] >= 1

    daily = client.get(
        "/api/admin/analytics/daily", params={"from": "2018-05-14", "to": "2018-05-16"},
        headers=admin.headers,
    )  # fmt: skip
    assert daily.status_code == 200, daily.text
    assert [
        (d["date"], d["payments"], d["grossRevenue"], d["refunds"], d["disputes"],
         d["netRevenue"], d["checkoutsCreated"], d["checkoutsCompleted"])
        for d in daily.json()["days"]
    ] == [
        ("2018-05-14", 0, 0, 0, 0, 0, 0, 0),
        ("2018-05-15", 2, 5500, 400, 4500, 600, 2, 2),
        ("2018-05-16", 0, 0, 0, 0, 0, 0, 0),
    ]  # fmt: skip
    week = client.get(
        "/api/admin/analytics/daily",
        params={"from": (today_in_london() - timedelta(days=6)).isoformat()},
        headers=admin.headers,
    ).json()["days"]  # fmt: skip
    assert [d["date"] for d in week][-1] == today_in_london().isoformat()
    assert len(week) == 7


def test_a_payment_counts_on_its_london_day(
    client: httpx.Client, admin: Account, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    session_id = _paid(client, student, packages["starter"], stripe_emulator)
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (summer time).
    db.execute(
        "UPDATE payments SET paid_at = '2019-07-01 23:30:00+00'"
        " WHERE stripe_checkout_session_id = %s",
        (session_id,),
    )
    first = _summary(client, admin, **{"from": "2019-07-01", "to": "2019-07-01"})
    second = _summary(client, admin, **{"from": "2019-07-02", "to": "2019-07-02"})
    assert (first["from"], first["to"]) == ("2019-07-01", "2019-07-01")
    assert first["money"]["grossRevenue"] == 0
    assert second["money"]["grossRevenue"] == 1000
    daily = client.get(
        "/api/admin/analytics/daily", params={"from": "2019-07-01", "to": "2019-07-03"},
        headers=admin.headers,
    ).json()  # fmt: skip
    assert (daily["from"], daily["to"], daily["currency"]) == ("2019-07-01", "2019-07-03", "GBP")
    assert [(d["date"], d["grossRevenue"]) for d in daily["days"]] == [
        ("2019-07-01", 0), ("2019-07-02", 1000), ("2019-07-03", 0),
    ]  # fmt: skip


def test_bad_ranges_and_callers_are_refused(
    client: httpx.Client, admin: Account, student: Account
) -> None:
    url = "/api/admin/analytics/summary"
    assert client.get(url).status_code == 401
    refused = client.get(url, headers=student.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "admin_only"
    reversed_range = client.get(
        url, params={"from": "2026-02-02", "to": "2026-02-01"}, headers=admin.headers
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["code"] == "invalid_range"
    too_long = client.get(
        "/api/admin/analytics/daily", params={"from": "2020-01-01", "to": "2026-01-01"},
        headers=admin.headers,
    )  # fmt: skip
    assert too_long.status_code == 422
    # Not shaped like a day (refused by the documented pattern), or a day that does not exist
    # or is too near the ends of the calendar.
    shapes = [("yesterday", "validation_error"), ("0", "validation_error"),
              ("20261201", "validation_error"), ("2026-02-30", "invalid_range"),
              ("0001-01-01", "invalid_range"), ("9999-12-31", "invalid_range")]  # fmt: skip
    for bad, code in shapes:
        answer = client.get(url, params={"to": bad}, headers=admin.headers)
        assert answer.status_code == 422, bad
        assert answer.json()["code"] == code, bad
