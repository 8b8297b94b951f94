"""A subscription over time, driven by a Stripe test clock: renewals grant each period once,
cancel / resume at the period's end, a plan change at the next renewal, and a renewal whose
payment fails (PAST_DUE, an email with the portal link, the credits once it is paid)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import balance
from tests.subscriptions.support import (
    advance_clock,
    create_plan,
    current,
    emulator_http,
    epoch,
    period_grants,
    portal,
    put_on_test_clock,
    subscribe,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox

pytestmark = pytest.mark.usefixtures("invariants")
HOUR = 3600


def _subscribed(
    client: httpx.Client, admin: Account, student: Account, emulator: Any,
    db: psycopg.Connection, **plan: Any,
) -> tuple[dict[str, Any], str, dict[str, Any]]:  # fmt: skip
    """A plan, the student subscribed to it on a test clock: (plan, clock, current)."""
    made = create_plan(client, admin, **plan)
    clock = put_on_test_clock(db, emulator, student)
    subscribe(client, emulator, student, made["id"])
    mine = current(client, student).json()
    assert mine["status"] == "ACTIVE"
    return made, clock, mine


def test_each_renewal_grants_its_period_once(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    _, clock, first = _subscribed(client, admin, student, stripe_emulator, db,
                                     creditsPerPeriod=500, priceMinor=1500)  # fmt: skip
    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + HOUR + 60)
    second = current(client, student).json()
    assert second["currentPeriodStart"] == first["currentPeriodEnd"]
    assert balance(db, student.id) == before + 1000
    grants = period_grants(db, student.id)
    assert [g["billing_reason"] for g in grants] == ["subscription_create", "subscription_cycle"]
    assert [g["credits"] for g in grants] == [500, 500]
    assert all(g["expires_at"] == g["period_end"] for g in grants)
    assert epoch(second["currentPeriodEnd"]) == int(grants[1]["period_end"].timestamp())
    assert len({g["payment_id"] for g in grants}) == 2


def test_cancel_resume_then_cancel_ends_at_the_period_end_with_no_new_credits(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    _, clock, first = _subscribed(client, admin, student, stripe_emulator, db,
                                  creditsPerPeriod=200)  # fmt: skip
    canceled = client.post("/api/subscriptions/current/cancel", headers=student.headers)
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["cancelAtPeriodEnd"], canceled.json()["status"]) == (True, "ACTIVE")
    resumed = client.post("/api/subscriptions/current/resume", headers=student.headers)
    assert resumed.json()["cancelAtPeriodEnd"] is False
    assert client.post("/api/subscriptions/current/cancel", headers=student.headers).json()[
        "cancelAtPeriodEnd"
    ]
    [grant] = period_grants(db, student.id)

    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + 2 * HOUR)
    ended = current(client, student).json()
    assert ended["status"] == "CANCELED"
    assert balance(db, student.id) == before + 200
    # The last period's credits keep their expiry.
    assert period_grants(db, student.id) == [grant]
    again = client.post("/api/subscriptions/current/cancel", headers=student.headers)
    assert (again.status_code, again.json()["code"]) == (409, "subscription_not_active")


def test_a_plan_change_takes_effect_at_the_next_renewal(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    plan, clock, first = _subscribed(client, admin, student, stripe_emulator, db,
                                     creditsPerPeriod=100, priceMinor=1000)  # fmt: skip
    bigger = create_plan(client, admin, creditsPerPeriod=700, priceMinor=3000)
    same = client.post("/api/subscriptions/current/change", json={"planId": plan["id"]},
                       headers=student.headers)  # fmt: skip
    assert (same.status_code, same.json()["code"]) == (422, "plan_unchanged")

    changed = client.post("/api/subscriptions/current/change", json={"planId": bigger["id"]},
                          headers=student.headers)  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["planId"], body["nextPlanId"]) == (plan["id"], bigger["id"])
    assert body["changeEffectiveAt"] == first["currentPeriodEnd"]
    assert balance(db, student.id) == before + 100  # nothing moves before the renewal

    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + HOUR + 60)
    renewed = current(client, student).json()
    assert (renewed["planId"], renewed["nextPlanId"], renewed["creditsPerPeriod"]) == (
        bigger["id"], None, 700)  # fmt: skip
    assert balance(db, student.id) == before + 800
    assert [g["amount_paid_pence"] for g in period_grants(db, student.id)] == [1000, 3000]


def test_a_change_to_a_yearly_plan_then_a_cancel_drops_it_and_another_change_keeps(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    plan, clock, first = _subscribed(client, admin, student, stripe_emulator, db,
                                     creditsPerPeriod=100, priceMinor=1000)  # fmt: skip
    yearly = create_plan(client, admin, creditsPerPeriod=2000, priceMinor=9000, interval="year")
    change = "/api/subscriptions/current/change"
    pending = client.post(change, json={"planId": yearly["id"]}, headers=student.headers)
    assert pending.status_code == 200, pending.text
    assert pending.json()["nextPlanId"] == yearly["id"]
    # Cancel drops the pending change; changing again undoes the cancellation.
    canceled = client.post("/api/subscriptions/current/cancel", headers=student.headers).json()
    assert (canceled["cancelAtPeriodEnd"], canceled["nextPlanId"]) == (True, None)
    again = client.post(change, json={"planId": yearly["id"]}, headers=student.headers).json()
    assert (again["cancelAtPeriodEnd"], again["nextPlanId"]) == (False, yearly["id"])
    back = client.post(change, json={"planId": plan["id"]}, headers=student.headers).json()
    assert back["nextPlanId"] is None
    again = client.post(change, json={"planId": yearly["id"]}, headers=student.headers).json()
    assert again["nextPlanId"] == yearly["id"]

    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + HOUR + 60)
    renewed = current(client, student).json()
    assert (renewed["planId"], renewed["status"], renewed["creditsPerPeriod"]) == (
        yearly["id"], "ACTIVE", 2000)  # fmt: skip
    year = epoch(renewed["currentPeriodEnd"]) - epoch(renewed["currentPeriodStart"])
    assert 365 * 86400 <= year <= 366 * 86400
    assert balance(db, student.id) == before + 2100
    assert [g["amount_paid_pence"] for g in period_grants(db, student.id)] == [1000, 9000]


def test_a_failed_renewal_is_past_due_with_an_email_then_granted_when_paid(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection, run_jobs: Any, mailbox: Mailbox,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    _, clock, first = _subscribed(client, admin, student, stripe_emulator, db,
                                  creditsPerPeriod=300)  # fmt: skip
    url = portal(client, student)
    assert "/p/session/" in url
    http = emulator_http(stripe_emulator)
    saved = http.post(f"{url}/payment_method", data={"card_number": "4000000000000341"})
    assert saved.status_code in (200, 303), saved.text

    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + HOUR + 60)
    assert current(client, student).json()["status"] == "PAST_DUE"
    assert balance(db, student.id) == before + 300  # no credits for the unpaid period
    run_jobs()
    [notice] = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "did not go through" in str(m["Subject"])
    )
    assert "/p/session/" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # A working card, then Stripe's retry (3 days later) pays it: granted with its period.
    url = portal(client, student)
    assert http.post(f"{url}/payment_method", data={"card_number": "4242424242424242"}
                     ).status_code in (200, 303)  # fmt: skip
    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + 3 * 86400 + 2 * HOUR)
    assert current(client, student).json()["status"] == "ACTIVE"
    assert balance(db, student.id) == before + 600
    grants = period_grants(db, student.id)
    assert grants[1]["period_start"] == grants[0]["period_end"]
