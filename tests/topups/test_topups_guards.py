"""The guards: at most 2 attempts per 10 minutes, none within an hour of a failure, the London
month's succeeded and in-flight attempts within the monthly limit, and a suspension after 3
failures in a row until a different card is saved or top-up is turned on again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.checkout.support import balance
from tests.support.accounts import Account
from tests.support.tiers import BOTH_TIERS
from tests.topups.support import (
    ALWAYS_DECLINED,
    INSUFFICIENT_FUNDS,
    VISA,
    attempts,
    save_card,
    spend,
    turn_on,
)


def _age(db: psycopg.Connection, student: Account, interval: str) -> None:
    """Move the student's attempts back in time (as if they happened `interval` ago)."""
    db.execute(
        "UPDATE auto_top_up_attempts SET created_at = created_at - %s::interval,"
        " finished_at = finished_at - %s::interval WHERE student_id = %s",
        (interval, interval, student.id),
    )


def _cross(client: httpx.Client, student: Account, db: psycopg.Connection, run_jobs: Any) -> None:
    """Spend the available balance down to the threshold (50)."""
    assert spend(client, student, balance(db, student.id) - 50).status_code == 201
    run_jobs()


@BOTH_TIERS
def test_at_most_two_attempts_in_ten_minutes(
    tier: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, VISA)
    turn_on(client, student, packages["starter"], threshold=50)
    for _ in range(3):
        _cross(client, student, db, run_jobs)
    assert [a["status"] for a in attempts(db, student.id)] == ["SUCCEEDED", "SUCCEEDED"]
    assert balance(db, student.id) == 50  # the third crossing queued nothing
    _age(db, student, "11 minutes")
    assert spend(client, student, 1).status_code == 201
    run_jobs()
    assert [a["status"] for a in attempts(db, student.id)].count("SUCCEEDED") == 3


@BOTH_TIERS
def test_no_attempt_within_an_hour_of_a_failure(
    tier: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, ALWAYS_DECLINED)
    turn_on(client, student, packages["starter"], threshold=50)
    _cross(client, student, db, run_jobs)
    assert spend(client, student, 5).status_code == 201
    run_jobs()
    assert [a["status"] for a in attempts(db, student.id)] == ["FAILED"]
    _age(db, student, "61 minutes")
    assert spend(client, student, 5).status_code == 201
    run_jobs()
    assert [a["status"] for a in attempts(db, student.id)] == ["FAILED", "FAILED"]


def test_the_monthly_limit_counts_the_london_month(
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, VISA)
    turn_on(client, student, packages["starter"], threshold=50, limit=1500)  # one 1000p top-up
    _cross(client, student, db, run_jobs)
    _age(db, student, "11 minutes")  # out of the 10-minute window, still this month
    db.execute(
        "UPDATE auto_top_up_attempts SET created_at = greatest(created_at,"
        " date_trunc('month', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London')"
        " WHERE student_id = %s",
        (student.id,),
    )
    _cross(client, student, db, run_jobs)
    assert [a["status"] for a in attempts(db, student.id)] == ["SUCCEEDED"]
    view = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert view["spentThisMonthMinor"] == 1000
    # Last London month's top-up does not count this month: one second before it began.
    db.execute(
        "UPDATE auto_top_up_attempts SET created_at ="
        " (date_trunc('month', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London')"
        " - interval '1 second' WHERE student_id = %s",
        (student.id,),
    )
    assert (
        client.get("/api/credits/auto-top-up", headers=student.headers).json()[
            "spentThisMonthMinor"
        ]
        == 0
    )
    assert spend(client, student, 1).status_code == 201
    run_jobs()
    assert [a["status"] for a in attempts(db, student.id)] == ["SUCCEEDED", "SUCCEEDED"]


@BOTH_TIERS
def test_three_failures_in_a_row_suspend_until_a_different_card(
    tier: str,
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, ALWAYS_DECLINED)
    turn_on(client, student, packages["starter"], threshold=100)
    for _ in range(3):
        assert spend(client, student, 1).status_code == 201
        run_jobs()
        stripe_emulator.wait_for_deliveries()
        _age(db, student, "61 minutes")
    assert [a["status"] for a in attempts(db, student.id)] == ["FAILED"] * 3
    view = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert (view["state"], view["suspendedReason"]) == ("SUSPENDED", "3 failed top-ups in a row")
    assert spend(client, student, 1).status_code == 201
    run_jobs()
    assert len(attempts(db, student.id)) == 3  # suspended: nothing queued
    # The same card saved again (same fingerprint) does not lift it.
    save_card(client, student, stripe_emulator, ALWAYS_DECLINED)
    assert (
        client.get("/api/credits/auto-top-up", headers=student.headers).json()["state"]
        == "SUSPENDED"
    )
    # A different card does, and becomes the card charged; the balance is below the threshold
    # and the last failure over an hour old, so the resume queues an attempt at once (as
    # turning it on does), and the next spend finds it in flight.
    save_card(client, student, stripe_emulator, INSUFFICIENT_FUNDS)
    view = client.get("/api/credits/auto-top-up", headers=student.headers).json()
    assert (view["state"], view["paymentMethod"]["last4"]) == ("ACTIVE", "3178")
    assert len(attempts(db, student.id)) == 4
    assert spend(client, student, 1).status_code == 201
    run_jobs()
    assert len(attempts(db, student.id)) == 4


def test_turning_it_on_again_lifts_a_suspension(
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    save_card(client, student, stripe_emulator, ALWAYS_DECLINED)
    turn_on(client, student, packages["starter"], threshold=100)
    for _ in range(3):
        spend(client, student, 1)
        run_jobs()
        _age(db, student, "61 minutes")
    assert (
        client.get("/api/credits/auto-top-up", headers=student.headers).json()["state"]
        == "SUSPENDED"
    )
    # On again (the balance is already below the threshold): active, and an attempt is queued.
    assert turn_on(client, student, packages["starter"], threshold=100)["state"] == "ACTIVE"
    assert [a["status"] for a in attempts(db, student.id)][-1] == "QUEUED"
