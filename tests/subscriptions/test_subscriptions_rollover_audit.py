"""`medgrader audit` checks each rollover against the rule: each case rolls a period's lot over
(committed, clean), breaks it inside a transaction that is always rolled back, and sees which
checks fire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from medgrader.audit.checks import CHECKS
from medgrader.subscriptions.audit import SUBSCRIPTION_CHECKS
from tests.lots.support import spend
from tests.subscriptions.rollover_support import PeriodLot, expire, period_lot, sweep
from tests.support.invariants import audit_findings
from tests.support.services import ServiceRunner

pytestmark = pytest.mark.usefixtures("invariants")

ROLLOVER_CHECKS = {"rollover_follows_the_rule", "rollover_lot_carries_its_movement"}
Corrupt = Callable[[psycopg.Connection, PeriodLot], None]

_NEW_LOT = "SELECT n.id FROM credit_lots n JOIN lot_movements m ON m.id = n.origin_movement_id"


def cap_lowered(db: psycopg.Connection, period: PeriodLot) -> None:
    # As if more than the plan's rolloverMaxCredits had rolled over.
    db.execute(
        "UPDATE plans SET rollover_max_credits = rollover_max_credits - 1"
        " WHERE id = (SELECT plan_id FROM subscriptions WHERE id = %s)",
        (period.subscription_id,),
    )


def cap_raised(db: psycopg.Connection, period: PeriodLot) -> None:
    # As if less than the cap had rolled over while the rest expired.
    db.execute(
        "UPDATE plans SET rollover_max_credits = rollover_max_credits + 1"
        " WHERE id = (SELECT plan_id FROM subscriptions WHERE id = %s)",
        (period.subscription_id,),
    )


def value_share_shifted(db: psycopg.Connection, period: PeriodLot) -> None:
    # A penny moved from the expiry to the rollover (and its lot): the lot's total still adds
    # up, the share does not.
    db.execute(
        "UPDATE lot_movements SET value_minor = value_minor"
        " + CASE kind WHEN 'ROLLOVER' THEN 1 ELSE -1 END"
        " WHERE lot_id = %s AND kind IN ('ROLLOVER', 'EXPIRY')",
        (period.lot_id,),
    )
    db.execute(
        f"UPDATE credit_lots SET value_minor = value_minor + 1 WHERE id = ({_NEW_LOT}"
        " WHERE m.lot_id = %s)",
        (period.lot_id,),
    )


def rolled_for_a_canceled_subscription(db: psycopg.Connection, period: PeriodLot) -> None:
    db.execute(
        "UPDATE subscriptions SET status = 'CANCELED', canceled_at = now() - interval '1 day'"
        " WHERE id = %s",
        (period.subscription_id,),
    )


def new_lot_expires_with_the_old(db: psycopg.Connection, period: PeriodLot) -> None:
    db.execute(
        f"UPDATE credit_lots SET expires_at = (SELECT expires_at FROM credit_lots WHERE id = %s)"
        f" WHERE id = ({_NEW_LOT} WHERE m.lot_id = %s)",
        (period.lot_id, period.lot_id),
    )


def new_lot_worth_more(db: psycopg.Connection, period: PeriodLot) -> None:
    db.execute(
        f"UPDATE credit_lots SET value_minor = value_minor + 5 WHERE id = ({_NEW_LOT}"
        " WHERE m.lot_id = %s)",
        (period.lot_id,),
    )


CASES: list[tuple[Corrupt, set[str]]] = [
    (cap_lowered, {"rollover_follows_the_rule"}),
    (cap_raised, {"rollover_follows_the_rule"}),
    (value_share_shifted, {"rollover_follows_the_rule"}),
    (rolled_for_a_canceled_subscription, {"rollover_follows_the_rule"}),
    (new_lot_expires_with_the_old, {"rollover_lot_carries_its_movement"}),
    (new_lot_worth_more, {"rollover_lot_carries_its_movement"}),
]


def test_every_rollover_check_has_a_case_and_runs_in_the_audit() -> None:
    assert set().union(*(fired for _, fired in CASES)) == ROLLOVER_CHECKS
    assert set(SUBSCRIPTION_CHECKS) >= ROLLOVER_CHECKS
    assert set(SUBSCRIPTION_CHECKS) <= set(CHECKS)


@pytest.mark.parametrize(("corrupt", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_rollover_check_fires(
    services: ServiceRunner, db: psycopg.Connection, new_student: Any, corrupt: Corrupt,
    fired: set[str],
) -> None:  # fmt: skip
    student = new_student(balance=0)
    period = period_lot(services, db, student.id, credits=300, price=999, cap=40)
    assert spend(services, student.id, 7) is not None
    expire(db, period.lot_id)
    sweep(services)  # 40 roll over, 253 expire
    assert audit_findings(db) == []
    with db.transaction(force_rollback=True):
        corrupt(db, period)
        assert {f[0] for f in audit_findings(db)} == fired
    assert audit_findings(db) == []
