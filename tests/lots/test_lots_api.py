"""What students and the back office see of lots: the balance by kind and next expiries,
GET /api/credits/lots, an admin grant's expiresAt, a package's validityDays, the liability
and recognised revenue, and the expiry reminder (one per lot, never twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from medgrader.lots.tasks import send_expiry_reminders
from tests.lots.support import grant, lots, spend
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner


def _adjust(client: httpx.Client, admin: Account, student: Account, **body: Any) -> httpx.Response:
    return client.post(
        f"/api/admin/students/{student.id}/credit-adjustments",
        json={"reason": "goodwill", **body},
        headers=admin.headers,
    )


def test_the_balance_shows_bought_and_given_credits_and_what_expires(
    services: ServiceRunner, client: httpx.Client, new_student: Any
) -> None:
    student = new_student()  # 100 welcome credits, expiring in 90 days
    grant(services, student.id, 7, value_minor=70)
    soon = datetime.now(UTC) + timedelta(days=3)
    grant(services, student.id, 40, expires_at=soon)
    shown = client.get("/api/credits/balance", headers=student.headers).json()
    assert (shown["balance"], shown["paid"], shown["granted"]) == (147, 7, 140)
    assert [e["amount"] for e in shown["expiring"]] == [40, 100]
    assert shown["expiring"][0]["expiresAt"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))


def test_the_lots_list_is_the_students_own_newest_first_by_status(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student, other = new_student(), new_student()
    grant(services, student.id, 5, value_minor=50)
    assert spend(services, student.id, 100) is not None  # the welcome lot: consumed
    page = client.get("/api/credits/lots", params={"limit": 1}, headers=student.headers).json()
    (newest,) = page["items"]
    assert (newest["kind"], newest["amount"], newest["remaining"], newest["status"]) == (
        "PAID", 5, 5, "ACTIVE",
    )  # fmt: skip
    assert (newest["valueMinor"], newest["currency"]) == (50, "GBP")
    older = client.get(
        "/api/credits/lots", params={"cursor": page["nextCursor"]}, headers=student.headers
    ).json()
    assert [(lot["source"], lot["status"]) for lot in older["items"]] == [
        ("WELCOME_BONUS", "CONSUMED")
    ]
    assert older["nextCursor"] is None
    consumed = client.get(
        "/api/credits/lots", params={"status": "consumed"}, headers=student.headers
    ).json()["items"]
    assert [lot["id"] for lot in consumed] == [older["items"][0]["id"]]
    theirs = client.get("/api/credits/lots", headers=other.headers).json()["items"]
    assert {lot["id"] for lot in theirs}.isdisjoint({newest["id"], consumed[0]["id"]})
    refused = client.get("/api/credits/lots", params={"status": "gone"}, headers=student.headers)
    assert refused.status_code == 422
    assert set(refused.json()) >= {"error", "code"}


def test_an_admin_grant_may_expire_and_bad_expiries_are_refused(
    db: psycopg.Connection, client: httpx.Client, admin: Account, new_student: Any
) -> None:
    student = new_student(balance=0)
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    granted = _adjust(client, admin, student, amount=12, expiresAt=at.isoformat())
    assert granted.status_code == 201, granted.text
    lot = lots(db, student.id)[-1]
    assert (lot["kind"], lot["source"], lot["amount"], lot["expires_at"]) == (
        "GRANTED", "ADMIN_GRANT", 12, at,
    )  # fmt: skip
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in (
        {"amount": 5, "expiresAt": past},
        {"amount": -5, "expiresAt": at.isoformat()},
        {"amount": 5, "expiresAt": "2030-01-01T00:00:00"},  # no zone
    ):
        refused = _adjust(client, admin, student, **body)
        assert refused.status_code == 422, (body, refused.text)
        assert set(refused.json()) >= {"error", "code"}
    assert len(lots(db, student.id)) == 2  # nothing more posted


def test_the_liability_and_recognised_revenue_follow_the_floor_rule(
    services: ServiceRunner, client: httpx.Client, admin: Account, new_student: Any
) -> None:
    before = client.get("/api/admin/analytics/credit-liability", headers=admin.headers).json()
    summary_before = client.get("/api/admin/analytics/summary", headers=admin.headers).json()
    student = new_student(balance=0)
    grant(services, student.id, 3, value_minor=1000)
    assert spend(services, student.id, 1) is not None
    after = client.get("/api/admin/analytics/credit-liability", headers=admin.headers).json()
    assert after["currency"] == "GBP"
    assert after["paidCreditsOutstanding"] - before["paidCreditsOutstanding"] == 2
    assert after["deferredRevenue"] - before["deferredRevenue"] == 1000 - 333
    summary = client.get("/api/admin/analytics/summary", headers=admin.headers).json()
    moved = summary["money"]["recognisedRevenue"] - summary_before["money"]["recognisedRevenue"]
    assert moved == 333
    yesterday = client.get(
        "/api/admin/analytics/credit-liability", params={"at": "2000-01-01"},
        headers=admin.headers,
    ).json()  # fmt: skip
    assert yesterday["deferredRevenue"] == 0
    bad = client.get(
        "/api/admin/analytics/credit-liability", params={"at": "2026-02-30"},
        headers=admin.headers,
    )  # fmt: skip
    assert bad.status_code == 422


def test_a_reminder_goes_once_per_lot_before_its_credits_expire(
    services: ServiceRunner, mailbox: Mailbox, new_student: Any
) -> None:
    student = new_student(balance=0)
    grant(services, student.id, 40, expires_at=datetime.now(UTC) + timedelta(days=6))
    grant(services, student.id, 9, expires_at=datetime.now(UTC) + timedelta(days=20))
    assert services.run(send_expiry_reminders) >= 1
    services.run(send_expiry_reminders)  # again: nothing more
    sent = [m for m in mailbox.messages(student.email) if "expire" in str(m["Subject"])]
    assert len(sent) == 1
    assert str(sent[0]["Subject"]).startswith("40 credits expire on ")
