"""Rollover (issue 19): when a subscription period's lot expires and the subscription is ACTIVE
and not set to cancel, up to rolloverMaxCredits of what it still holds (free, not reserved by a
hold) move into a PAID lot of source ROLLOVER, worth their value share, expiring at the end of
the next period; the rest expires. Once per lot, by the expiry job (lots_settle, 0018). The
expected figures come from subscriptions.rules.rollover, the rule's independent statement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.subscriptions.rules import rollover
from tests.checkout.support import balance
from tests.credits.factory import new_key, spend_headers
from tests.holds.support import act, expire_now, hold_row, new_hold
from tests.lots.support import lots, spend
from tests.subscriptions.rollover_support import (
    entries,
    expire,
    period_lot,
    rollover_lots,
    sweep,
    value_out,
)
from tests.subscriptions.support import (
    advance_clock,
    create_plan,
    current,
    epoch,
    period_grants,
    put_on_test_clock,
    rows,
    subscribe,
)
from tests.support.accounts import Account
from tests.support.invariants import assert_ledger_invariants, ledger_balance
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")


def test_the_cap_rolls_over_with_its_value_share_and_the_rest_expires(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=500, price=1499, cap=100)
    assert spend(services, student.id, 199) is not None  # 199 used: 301 left
    expired_at = expire(db, period.lot_id)
    sweep(services)

    rule = rollover(lot_credits=500, lot_value_pence=1499, remaining=301,
                    rollover_max_credits=100, renews=True)  # fmt: skip
    assert (rule.credits, rule.expiring) == (100, 201)
    source = f"lot:{period.lot_id}"
    assert entries(db, student.id) == [
        ("DEBIT", "ROLLOVER", 100, source),
        ("CREDIT", "ROLLOVER", 100, source),
        ("DEBIT", "EXPIRY", 201, source),
    ]
    [new] = rollover_lots(db, student.id)
    assert (new["kind"], new["amount"], new["remaining"], new["currency"]) == (
        "PAID", 100, 100, "GBP")  # fmt: skip
    assert new["value_minor"] == new["moved_value"] == rule.value_pence
    assert (new["from_lot"], new["movement_kind"]) == (period.lot_id, "ROLLOVER")
    # Our row already shows the next period (renewed): the new lot ends with it.
    (period_end,) = db.execute(
        "SELECT current_period_end FROM subscriptions WHERE id = %s", (period.subscription_id,)
    ).fetchone() or (None,)
    assert new["expires_at"] == period_end > expired_at
    # The balance moved only by the expiry; the old lot's value: used + rolled + expired = V.
    assert balance(db, student.id) == 100
    assert ledger_balance(db, student.id) == (100, 100)
    out = value_out(db, period.lot_id)
    assert out["ROLLOVER"] == rule.value_pence
    assert out["USE"] + out["ROLLOVER"] + out["EXPIRY"] == 1499

    # Again: nothing more (swept under the lock; the UNIQUE index is the database's guard).
    sweep(services)
    assert len(entries(db, student.id)) == 3
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            """INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after,
                   source_type, source_id, description)
               VALUES (%s, 'CREDIT', 1, 101, 'ROLLOVER', %s, 'again')""",
            (student.id, source),
        )

    # The ROLLOVER lot is not a period's lot: when it expires, it expires, all of it.
    assert spend(services, student.id, 30) is not None
    expire(db, str(new["id"]))
    sweep(services)
    assert entries(db, student.id)[3:] == [("DEBIT", "EXPIRY", 70, f"lot:{new['id']}")]
    assert len(rollover_lots(db, student.id)) == 1
    assert balance(db, student.id) == 0
    # The period's 1499p, all out now: recognised (USE) + breakage (EXPIRY) over both lots;
    # what rolled over was neither, it moved on.
    later = value_out(db, str(new["id"]))
    assert later["USE"] + later["EXPIRY"] == rule.value_pence
    assert out["USE"] + out["EXPIRY"] + later["USE"] + later["EXPIRY"] == 1499
    assert_ledger_invariants(db)


def test_less_than_the_cap_all_rolls_over_and_a_posting_settles_it_too(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=3, price=1000, cap=3)
    assert spend(services, student.id, 1) is not None
    expire(db, period.lot_id)
    # No job: the next spend settles the student first, rolls over, then spends from the lot.
    assert spend(services, student.id, 2) is not None
    [new] = rollover_lots(db, student.id)
    assert (new["amount"], new["remaining"]) == (2, 0)
    assert new["value_minor"] == 1000 - 1000 // 3  # what the lot still held, to the penny
    assert [e[:3] for e in entries(db, student.id)] == [
        ("DEBIT", "ROLLOVER", 2), ("CREDIT", "ROLLOVER", 2)]  # fmt: skip
    assert balance(db, student.id) == 0
    # On the student's lots page the period's lot expired (its leftover moved on), the new
    # one was used up.
    listed = client.get("/api/credits/lots", headers=student.headers)
    assert listed.status_code == 200, listed.text
    status = {lot["id"]: (lot["source"], lot["status"]) for lot in listed.json()["items"]}
    assert status[period.lot_id] == ("SUBSCRIPTION", "EXPIRED")
    assert status[str(new["id"])] == ("ROLLOVER", "CONSUMED")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE subscriptions SET cancel_at_period_end = true WHERE id = %s",
        "UPDATE subscriptions SET status = 'PAST_DUE' WHERE id = %s",
        "UPDATE subscriptions SET status = 'CANCELED', canceled_at = now() WHERE id = %s",
        "UPDATE plans SET rollover_max_credits = 0"
        " WHERE id = (SELECT plan_id FROM subscriptions WHERE id = %s)",
    ],
    ids=["cancelling", "past_due", "canceled", "no_rollover_plan"],
)
def test_a_subscription_that_does_not_renew_rolls_nothing_over(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any, change: str
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=50, price=500, cap=20)
    db.execute(change, (period.subscription_id,))
    expire(db, period.lot_id)
    sweep(services)
    assert entries(db, student.id) == [("DEBIT", "EXPIRY", 50, f"lot:{period.lot_id}")]
    assert rollover_lots(db, student.id) == []
    assert value_out(db, period.lot_id) == {"EXPIRY": 500}
    assert balance(db, student.id) == 0


@pytest.mark.parametrize(("interval", "step"), [("month", "1 month"), ("year", "1 year")])
def test_before_the_renewal_is_known_the_lot_lasts_one_interval_more(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any, interval: str, step: str
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=10, price=100, cap=4,
                        interval=interval, renewed=False)  # fmt: skip
    expired_at = expire(db, period.lot_id)
    db.execute("UPDATE subscriptions SET current_period_end = %s WHERE id = %s",
               (expired_at, period.subscription_id))  # fmt: skip
    sweep(services)
    [new] = rollover_lots(db, student.id)
    (expected,) = db.execute(
        f"SELECT %s::timestamptz + interval '{step}'", (expired_at,)
    ).fetchone() or (None,)
    assert new["expires_at"] == expected
    assert (new["amount"], new["value_minor"]) == (4, 40)


def test_credits_a_hold_reserves_never_roll_over_nor_expire_under_it(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=100, price=1000, cap=30)
    hold = new_hold(client, student, 80)  # 20 free
    expire(db, period.lot_id)
    sweep(services)
    # The 20 free roll over (under the cap of 30); nothing expires; the hold keeps its 80.
    assert [e[:3] for e in entries(db, student.id)] == [
        ("DEBIT", "ROLLOVER", 20), ("CREDIT", "ROLLOVER", 20)]  # fmt: skip
    captured = act(client, student, hold["holdId"], "capture", {"amount": 50})
    assert captured.status_code == 201, captured.text
    # The 30 the capture did not use came back to the expired period lot: they just expire.
    assert entries(db, student.id)[2:] == [
        ("DEBIT", "EXPIRY", 30, f"lot:{period.lot_id}:hold:{hold['holdId']}")
    ]
    assert len(rollover_lots(db, student.id)) == 1
    assert balance(db, student.id) == 20
    out = value_out(db, period.lot_id)
    assert (out["USE"], out["ROLLOVER"], out["EXPIRY"]) == (500, 200, 300)
    assert_ledger_invariants(db)


@pytest.mark.parametrize("settle", ["sweep", "posting"])
def test_a_hold_expiring_just_before_its_period_lot_gives_back_in_time_to_roll_over(
    services: ServiceRunner, db: psycopg.Connection, client: httpx.Client, new_student: Any,
    settle: str,
) -> None:  # fmt: skip
    # Regression (0018/0020 review): one settle finds both past their expiry, the hold first.
    # It gives its credits back to a lot whose expiry is not written down yet: lots_return_hold
    # must leave them to the lots' step, which rolls the cap over, instead of expiring them
    # all under the hold's own EXPIRY entry (which cost the student the rollover).
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=100, price=1000, cap=30)
    assert spend(services, student.id, 10) is not None  # 90 left in the period's lot
    hold = new_hold(client, student, 50)  # 50 reserved, 40 free
    expire_now(db, hold["holdId"], ago="2 seconds")
    lot_expiry = expire(db, period.lot_id, ago="1 second")
    [due] = rows(db, "SELECT expires_at FROM credit_holds WHERE id = %s", hold["holdId"])
    assert due["expires_at"] < lot_expiry  # the hold a little before its lot, both past

    spent = 0
    if settle == "sweep":
        sweep(services)
    else:  # a posting's first statement is the same settle; it then spends rolled credits
        spent = 5
        assert spend(services, student.id, spent) is not None

    rule = rollover(lot_credits=100, lot_value_pence=1000, remaining=90,
                    rollover_max_credits=30, renews=True)  # fmt: skip
    assert (rule.credits, rule.expiring) == (30, 60)
    assert hold_row(db, hold["holdId"])[0] == "EXPIRED"
    source = f"lot:{period.lot_id}"
    # No EXPIRY of the hold's own (lot:<lot>:hold:<hold>): the lot's one expiry, for the rest.
    assert entries(db, student.id) == [
        ("DEBIT", "ROLLOVER", 30, source),
        ("CREDIT", "ROLLOVER", 30, source),
        ("DEBIT", "EXPIRY", 60, source),
    ]
    assert sum(e[2] for e in entries(db, student.id) if e[1] == "EXPIRY") == 60
    [new] = rollover_lots(db, student.id)
    assert (new["from_lot"], new["amount"], new["remaining"]) == (period.lot_id, 30, 30 - spent)
    assert new["value_minor"] == rule.value_pence
    [old] = rows(db, "SELECT remaining, reserved, swept FROM credit_lots WHERE id = %s",
                 period.lot_id)  # fmt: skip
    assert old == {"remaining": 0, "reserved": 0, "swept": True}
    assert rows(db, "SELECT * FROM lot_reservations WHERE hold_id = %s", hold["holdId"]) == []
    out = value_out(db, period.lot_id)
    assert out["ROLLOVER"] == rule.value_pence
    assert out["USE"] + out["ROLLOVER"] + out["EXPIRY"] == 1000
    assert balance(db, student.id) == 30 - spent
    assert ledger_balance(db, student.id) == (30 - spent, 30 - spent)
    assert_ledger_invariants(db)


def test_the_rolled_over_credits_are_spendable_until_the_next_period_ends(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any
) -> None:
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=10, price=1000, cap=6)
    expire(db, period.lot_id)
    sweep(services)
    [new] = rollover_lots(db, student.id)
    assert [lot["source"] for lot in lots(db, student.id)][-2:] == ["SUBSCRIPTION", "ROLLOVER"]
    assert new["expires_at"] - period.period_end == timedelta(days=30)
    assert spend(services, student.id, 7) is None  # only 6 there
    assert spend(services, student.id, 6) is not None
    assert balance(db, student.id) == 0


def test_a_renewed_subscription_rolls_over_into_the_period_stripe_renewed(
    client: httpx.Client, admin: Account, student: Account, stripe_emulator: Any,
    db: psycopg.Connection, services: ServiceRunner,
) -> None:  # fmt: skip
    # Through Stripe (the emulator, a test clock): the plan as the back office makes it, the
    # first period paid by Checkout, spent from, the renewal paid when the clock passes the
    # period's end; then the first period's lot reaches its expiry (data time travel).
    plan = create_plan(client, admin, creditsPerPeriod=200, priceMinor=1000,
                       rolloverMaxCredits=50)  # fmt: skip
    clock = put_on_test_clock(db, stripe_emulator, student)
    subscribe(client, stripe_emulator, student, plan["id"])
    first = current(client, student).json()
    spent = client.post("/api/credits/spend", json={"amount": 100, "reason": "tutor"},
                        headers=spend_headers(student, new_key()))  # fmt: skip
    assert spent.status_code == 201, spent.text
    advance_clock(stripe_emulator, clock, epoch(first["currentPeriodEnd"]) + 3660)
    second = current(client, student).json()
    assert second["currentPeriodStart"] == first["currentPeriodEnd"]
    [one, two] = period_grants(db, student.id)
    [lot] = rows(
        db,
        "SELECT l.id::text, l.remaining FROM credit_lots l JOIN credit_transactions t"
        " ON t.id = l.entry_id WHERE t.source_id = %s",
        one["stripe_invoice_id"],
    )
    assert lot["remaining"] == 100  # the spend took from the lot that expires first
    before = balance(db, student.id)
    expire(db, lot["id"])
    sweep(services)

    [new] = rollover_lots(db, student.id)
    assert new["from_lot"] == lot["id"]
    assert new["amount"] == 50
    assert new["expires_at"] == two["period_end"]  # the end of the period Stripe renewed
    rule = rollover(lot_credits=200, lot_value_pence=1000, remaining=100,
                    rollover_max_credits=50, renews=True)  # fmt: skip
    assert new["value_minor"] == rule.value_pence
    assert balance(db, student.id) == before - rule.expiring
    assert_ledger_invariants(db)
