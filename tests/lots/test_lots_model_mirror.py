"""The model test's mirror of the lots (tests/lots/model_lots.py) on its own, where the SQL
leaves a choice to PostgreSQL's row order: two holds closing in one settle beside a debt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.lots.model_lots import HoldModel, Mirror
from tests.support.accounts import Account

NOW = datetime(2027, 3, 1, tzinfo=UTC)


def test_two_holds_closing_beside_a_debt_may_leave_two_balances() -> None:
    student = Account(id="s", email="s@example.test", password="-", token="-", role="student")
    balances = {"s": 0}
    holds: dict[str, HoldModel] = {}
    mirror = Mirror(lambda: NOW, balances, holds)
    soon = mirror.credit("s", "GRANTED", 10, NOW + timedelta(days=1))
    mirror.credit("s", "PAID", 10, None)
    balances["s"] = 20
    for hold_id in ("first", "second"):
        holds[hold_id] = HoldModel(student, 10, NOW + timedelta(hours=1))
        mirror.reserve(holds[hold_id], 10)  # "first" takes the expiring lot (spend order)
    mirror.claw("s", 10)  # nothing free: all owed
    balances["s"] -= 10
    assert mirror.wallets["s"].owed == 10
    soon.expires = NOW - timedelta(hours=2)  # the granted lot expired under its hold
    for hold in holds.values():
        hold.expires = NOW - timedelta(hours=1)  # both holds are past their expiry
    assert mirror.order_matters("s")
    # "first" back first: its expired credits pay the debt, the paid 10 stay (balance 10);
    # "second" first: the paid 10 pay the debt, the expired 10 expire (balance 0).
    assert mirror.outcomes("s") == {0, 10}
    assert (balances["s"], mirror.wallets["s"].owed) == (10, 10)  # untouched by `outcomes`
    mirror.settle("s", order=["first", "second"])
    assert (balances["s"], mirror.wallets["s"].owed) == (10, 0)
    assert {h.status for h in holds.values()} == {"EXPIRED"}
