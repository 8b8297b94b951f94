"""Expiry by the database clock (tests move expires_at: no sleeping out a TTL), the sweep,
and capture (or renewal) racing expiry made deterministic with real row locks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from medgrader.core.context import AppContext
from medgrader.core.statuses import status_of
from medgrader.db.transactions import unit_of_work
from medgrader.holds import service as holds
from medgrader.holds.errors import HoldExpired
from medgrader.holds.limits import HoldLimits
from medgrader.holds.sweep import expire_due_holds, sweep_due
from medgrader.holds.tasks import sweep_expired_holds
from medgrader.runtime import BLUEPRINTS
from tests.credits.factory import entry_count, new_key, spend_headers
from tests.holds.support import (
    HOLDS,
    act,
    balances,
    capture_entries,
    expire_now,
    hold_row,
    new_hold,
)
from tests.lots.support import spend
from tests.support.accounts import Account
from tests.support.invariants import assert_ledger_invariants, ledger_balance
from tests.support.locks import blocked_on_row
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")
NewStudent = Callable[..., Account]


def _expire_in(db: psycopg.Connection, hold_id: str, milliseconds: int) -> None:
    db.execute(
        "UPDATE credit_holds SET expires_at = clock_timestamp() + %s * interval '1 ms'"
        " WHERE id = %s",
        (milliseconds, hold_id),
    )


def test_an_expired_hold_stops_counting_at_once(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 8)
    assert balances(client, student) == {"balance": 10, "held": 8, "available": 2}

    expire_now(db, hold["holdId"])  # no sweep has run: the row still says ACTIVE
    assert hold_row(db, hold["holdId"])[0] == "ACTIVE"
    assert balances(client, student) == {"balance": 10, "held": 0, "available": 10}
    shown = client.get(f"{HOLDS}/{hold['holdId']}", headers=student.headers).json()
    assert (shown["status"], shown["amount"], shown["availableBalance"]) == ("EXPIRED", 0, 10)
    listed = client.get(HOLDS, params={"status": "EXPIRED"}, headers=student.headers).json()
    assert [h["holdId"] for h in listed["items"]] == [hold["holdId"]]

    spend = client.post(
        "/api/credits/spend",
        json={"amount": 10, "reason": "all of it"},
        headers=spend_headers(student, new_key()),
    )
    assert spend.status_code == 201, spend.text
    assert ledger_balance(db, student.id) == (0, 0)


def test_an_expired_hold_cannot_be_captured_extended_or_released(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 5)
    capture_key = new_key()
    expire_now(db, hold["holdId"])
    for action, body, key in (
        ("capture", {"amount": 5}, capture_key),
        ("extend", {"additionalAmount": 1}, None),
        ("extend", {}, None),
        ("release", None, None),
    ):
        response = act(client, student, hold["holdId"], action, body, key=key)
        assert response.status_code == 409, (action, response.text)
        assert response.json()["code"] == "hold_expired"
    again = act(client, student, hold["holdId"], "capture", {"amount": 5}, key=capture_key)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (409, "true")
    assert capture_entries(db, hold["holdId"]) == []
    assert ledger_balance(db, student.id) == (10, 10)


def test_a_capture_made_before_expiry_still_replays_after_it(
    client: httpx.Client, db: psycopg.Connection, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 5)
    key = new_key()
    first = act(client, student, hold["holdId"], "capture", {"amount": 3}, key=key)
    assert first.status_code == 201, first.text
    expire_now(db, hold["holdId"])
    again = act(client, student, hold["holdId"], "capture", {"amount": 3}, key=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert capture_entries(db, hold["holdId"]) == [(3, "DEBIT")]


def test_the_sweep_writes_expired_on_due_holds_only(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent
) -> None:
    student = new_student(balance=30)
    due = [new_hold(client, student, 5) for _ in range(2)]
    live = new_hold(client, student, 5)
    captured = new_hold(client, student, 5)
    assert act(client, student, captured["holdId"], "capture", {"amount": 5}).status_code == 201
    for hold in due:
        expire_now(db, hold["holdId"])

    swept = services.run(sweep_expired_holds)
    assert swept >= 2  # other tests' holds may be due too
    for hold in due:
        row = db.execute(
            "SELECT status, closed_at = expires_at FROM credit_holds WHERE id = %s",
            (hold["holdId"],),
        ).fetchone()
        assert row == ("EXPIRED", True)
    assert hold_row(db, live["holdId"]) == ("ACTIVE", 5, None)
    assert hold_row(db, captured["holdId"]) == ("CAPTURED", 5, 5)
    assert services.run(sweep_expired_holds) == 0  # nothing left to do
    assert balances(client, student) == {"balance": 25, "held": 5, "available": 20}


def test_the_sweep_runs_every_minute_on_the_job_queue() -> None:
    tasks = BLUEPRINTS["holds"].tasks
    assert "sweep_expired_holds" in tasks
    assert [p.cron for p in BLUEPRINTS["holds"].periodic_registry.periodic_tasks.values()] == [
        "* * * * *"
    ]


def test_capture_holding_the_row_beats_the_expiry_that_follows(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 6)
    hold_id = uuid.UUID(hold["holdId"])
    _expire_in(db, hold["holdId"], 300)

    async def scenario(ctx: AppContext) -> tuple[Any, str]:
        async with unit_of_work(ctx.db_pool) as capture:
            outcome = await holds.capture_hold(
                capture,
                student_id=uuid.UUID(student.id),
                hold_id=hold_id,
                amount=4,
                idempotency_key=new_key(),
            )
            await asyncio.sleep(0.4)  # the hold's time passes while the capture is uncommitted
            async with unit_of_work(ctx.db_pool) as sweep:
                await expire_due_holds(sweep)  # skips the row the capture holds
        async with unit_of_work(ctx.db_pool) as sweep:
            await expire_due_holds(sweep)  # now sees it CAPTURED: nothing to do
        return outcome, hold_row(db, hold["holdId"])[0]

    outcome, status = services.run(scenario)
    assert (outcome.replayed, outcome.hold.status, status) == (False, "CAPTURED", "CAPTURED")
    assert capture_entries(db, hold["holdId"]) == [(4, "DEBIT")]
    assert ledger_balance(db, student.id) == (6, 6)


def test_expiry_holding_the_row_beats_a_capture_that_began_before_it(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent
) -> None:
    student = new_student(balance=10)
    hold = new_hold(client, student, 6)
    hold_id = uuid.UUID(hold["holdId"])
    _expire_in(db, hold["holdId"], 250)

    async def scenario(ctx: AppContext) -> tuple[Any, bool]:
        async with unit_of_work(ctx.db_pool) as capture:
            # The capture's transaction (and so its clock, now()) starts before the expiry...
            await capture.execute(text("SELECT now()"))
            await asyncio.sleep(0.4)
            async with unit_of_work(ctx.db_pool) as sweep:
                # ...and the sweep, after it, marks the hold EXPIRED and keeps its row lock.
                await expire_due_holds(sweep)
                pending = asyncio.create_task(
                    holds.capture_hold(
                        capture,
                        student_id=uuid.UUID(student.id),
                        hold_id=hold_id,
                        amount=4,
                        idempotency_key=new_key(),
                    )
                )
                await asyncio.sleep(0.3)
                waited = not pending.done()  # the capture waits for the sweep's row
            try:
                await pending
            except HoldExpired as refused:  # its transaction is kept: the refusal is stored
                return refused, waited
        raise AssertionError("the capture was not refused")

    refused, waited = services.run(scenario)
    assert waited
    assert (status_of(refused), refused.code) == (409, "hold_expired")
    assert hold_row(db, hold["holdId"]) == ("EXPIRED", 6, None)
    assert capture_entries(db, hold["holdId"]) == []
    assert entry_count(db, student.id, "USAGE") == 0
    assert ledger_balance(db, student.id) == (10, 10)


@pytest.mark.parametrize("settle", ["sweep", "posting"])
def test_a_renewal_holding_the_row_keeps_the_hold_its_settle_had_picked(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, new_student: NewStudent,
    settle: str,
) -> None:  # fmt: skip
    # Regression (0018 review fix): lots_settle picks the holds past their expiry from its
    # snapshot, then expires each on the row as committed, checked again. A renewal that
    # began while the hold was live and commits while the settle waits for its row must
    # leave the hold ACTIVE, as its 200 answer said; expiring it anyway (the former
    # `WHERE id = h.id`) would return its credits to their lots under a live hold.
    student = new_student(balance=10)
    hold = new_hold(client, student, 6)
    hold_id = uuid.UUID(hold["holdId"])
    key = new_key()
    spent = 4 if settle == "posting" else 0

    def settle_student() -> Any:  # in a thread: B, on a connection of its own
        if settle == "sweep":
            return services.in_transaction(lambda session, _: sweep_due(session))
        return spend(services, student.id, spent)

    async def scenario(ctx: AppContext) -> tuple[holds.HoldResult, Any]:
        async with unit_of_work(ctx.db_pool) as renewal:
            # The renewal's transaction (and so its clock, now()) starts while the hold is
            # live; then the hold's time passes (the controllable clock: due from now on).
            pid = await renewal.scalar(text("SELECT pg_backend_pid()"))
            db.execute("UPDATE credit_holds SET expires_at = now() WHERE id = %s", (hold_id,))
            renewed = await holds.extend_hold(
                renewal, student_id=uuid.UUID(student.id), hold_id=hold_id,
                idempotency_key=key, limits=HoldLimits.of(ctx.settings), ttl_seconds=600,
            )  # fmt: skip
            # B starts after the expiry: its snapshot shows the hold due, so it picks it, and
            # then waits for the row the uncommitted renewal holds (its balance row is free:
            # a renewal without more credits takes no balance row lock).
            settling = asyncio.ensure_future(asyncio.to_thread(settle_student))
            await blocked_on_row(db, pid, "credit_holds")  # (raises if it never waits)
        return renewed, await settling  # the renewal committed: B goes on, on the new row

    renewed, outcome = services.run(scenario)
    assert (renewed.replayed, renewed.hold.status) == (False, "ACTIVE")
    if settle == "sweep":
        assert (outcome.holds, outcome.students) == (0, 1)  # it settled the student: nothing due
    else:
        assert outcome is not None  # the spend, within the available balance
    # The renewal's answer is true: the hold is ACTIVE, to its new expiry, reserving it all.
    row = db.execute(
        "SELECT status, expires_at, closed_at, expires_at > now() FROM credit_holds WHERE id = %s",
        (hold_id,),
    ).fetchone()
    assert row == ("ACTIVE", renewed.hold.expires_at, None, True)
    reserved = db.execute(
        "SELECT COALESCE(SUM(credits), 0) FROM lot_reservations WHERE hold_id = %s", (hold_id,)
    ).fetchone()
    assert reserved == (6,)
    assert balances(client, student) == {"balance": 10 - spent, "held": 6, "available": 4 - spent}
    # ...and the API says so again: the renewal replayed under its key, and the hold read.
    again = act(client, student, hold["holdId"], "extend", {"ttlSeconds": 600}, key=key)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.json() == renewed.hold.model_dump(mode="json", by_alias=True)
    shown = client.get(f"{HOLDS}/{hold['holdId']}", headers=student.headers).json()
    assert (shown["status"], shown["amount"]) == ("ACTIVE", 6)
    assert ledger_balance(db, student.id) == (10 - spent, 10 - spent)
    assert_ledger_invariants(db)
