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
    money, was = sold["money"], before["money"]
    assert money["grossRevenue"] == was["grossRevenue"] + 1000 + 4500
    assert money["payments"] == was["payments"] + 2
    assert money["netRevenue"] == was["netRevenue"] + 5500
    assert sold["checkouts"]["created"] == before["checkouts"]["created"] + 2
    assert sold["checkouts"]["completed"] == before["checkouts"]["completed"] + 2
    by_name = {p["packageName"]: p for p in sold["byPackage"]}
    assert by_name[packages["value"]["name"]] == {
        "packageName": packages["value"]["name"], "payments": 1, "revenue": 4500, "credits": 500,
    }  # fmt: skip
    assert sold["creditsOutstanding"] >= balance(db, student.id)

    # A refund of £4.00 of the Starter Pack, and a dispute of the whole Value Pack.
    intent = payments_for(db, starter)[0]["stripe_payment_intent_id"]
    stripe_emulator.refund(payment_intent=intent, amount=400)
    disputed = payments_for(db, value)[0]["stripe_payment_intent_id"]
    stripe_emulator.dispute(payment_intent=disputed)
    stripe_emulator.wait_for_deliveries(timeout=20)
    wait_until(
        lambda: _today(client, admin)["money"]["disputes"] > money["disputes"], what="dispute"
    )
    returned = _today(client, admin)
    assert returned["money"]["refunds"] == money["refunds"] + 400
    assert returned["money"]["refundCount"] == money["refundCount"] + 1
    assert returned["money"]["disputes"] == money["disputes"] + 4500
    assert returned["money"]["netRevenue"] == money["netRevenue"] - 400 - 4500
    assert returned["money"]["grossRevenue"] == money["grossRevenue"]
    assert returned["openDisputes"] >= 1

    daily = client.get(
        "/api/admin/analytics/daily",
        params={"from": (today_in_london() - timedelta(days=6)).isoformat()},
        headers=admin.headers,
    )
    assert daily.status_code == 200, daily.text
    days = daily.json()["days"]
    assert len(days) == 7
    assert days[-1]["date"] == today_in_london().isoformat()
    assert days[-1]["grossRevenue"] == returned["money"]["grossRevenue"]
    assert days[-1]["refunds"] == returned["money"]["refunds"]
    assert days[-1]["netRevenue"] == returned["money"]["netRevenue"]


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
    assert client.get(url, params={"from": "yesterday"}, headers=admin.headers).status_code == 422
