"""The lots' part of the ledger model test (tests/credits/test_credits_model.py): a clock the
test controls, lots with expiries, and the checks that the database's lots agree with the
Python mirror (tests/lots/model_lots.py) after every step.

The clock is time travel of the data: every SQL rule compares with `now()`, so advancing the
world by d moves every instant the expiry reads d into the past (lots' and holds' expiries and
creations, movements, debts); the ledger's entries keep their own (an adjustment's answer
carries its createdAt and is replayed). The world's instant is the real clock plus the time
travelled. An advance never leaves an expiry within MARGIN ahead of the clock (it goes just
past it instead), so no instant falls between the model's prediction and the database's
statement while the example runs. Right after an advance the step may spend, run the job or
read the balance before anything else settles the student: a spend one second past an expiry
cannot use those credits, and the balance endpoint already leaves them out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule

from medgrader.holds.sweep import expire_due_holds
from tests.credits.factory import new_key, spend_headers
from tests.lots.model_lots import HoldModel, Lot, Mirror, Movement, Wallet
from tests.support.accounts import Account
from tests.support.services import ServiceRunner

MARGIN = timedelta(minutes=2)
DAY = 86_400
# How far the clock goes: seconds past the next expiry, or seconds on.
PAST_BY = (1, 30)
ON_BY = (300, DAY, 40 * DAY, 100 * DAY)
THEN = ("nothing", "spend", "sweep", "balance")
# An admin grant's expiresAt, seconds from now (None: never).
GRANT_EXPIRIES = (None, None, 3600, 2 * DAY, 30 * DAY)

# Only this example's students travel (the database keeps earlier examples' students, whose
# clock stays the real one).
TRAVEL = (
    "UPDATE credit_lots SET expires_at = expires_at - %(d)s, created_at = created_at - %(d)s"
    " WHERE student_id = ANY(%(students)s::uuid[])",
    "UPDATE credit_holds SET expires_at = expires_at - %(d)s, created_at = created_at - %(d)s,"
    " closed_at = closed_at - %(d)s, updated_at = updated_at - %(d)s"
    " WHERE student_id = ANY(%(students)s::uuid[])",
    "UPDATE lot_movements SET created_at = created_at - %(d)s WHERE lot_id IN"
    " (SELECT id FROM credit_lots WHERE student_id = ANY(%(students)s::uuid[]))",
    "UPDATE credit_debts SET created_at = created_at - %(d)s"
    " WHERE student_id = ANY(%(students)s::uuid[])",
)
# A spend or an admin removal that took credits at or past their lot's expiry (a capture
# may: credits a hold reserved do not expire under it).
USED_PAST_EXPIRY = """
    SELECT m.id, m.kind, m.credits, m.created_at, l.expires_at
      FROM lot_movements m
      JOIN credit_lots l ON l.id = m.lot_id
      JOIN credit_transactions t ON t.id = m.entry_id
     WHERE m.kind IN ('USE', 'ADJUSTMENT') AND m.created_at >= l.expires_at
       AND NOT (t.source_type = 'USAGE' AND t.source_id LIKE 'hold:%%')
       AND l.student_id = ANY(%(students)s::uuid[])
"""


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class LotRules(RuleBasedStateMachine):
    """Mixed into the ledger model (below the holds' rules), which keeps `balances`."""

    students = Bundle("students")  # the ledger model's bundle (bundles are known by name)
    balances: dict[str, int]
    holds: dict[str, HoldModel]
    client: httpx.Client
    db: psycopg.Connection
    services: ServiceRunner

    def init_lots(self) -> None:
        self.shift = timedelta(0)
        self.accounts: dict[str, Account] = {}
        self.mirror = Mirror(self.now, self.balances, self.holds)

    def now(self) -> datetime:
        """The world's instant: the database's clock plus the time travelled."""
        return datetime.now(UTC) + self.shift

    def settle(self, student: Account) -> None:
        """What the system does first for every posting and hold change (lots_settle): holds
        past their expiry give back in a fixed order (the first to expire first), so the
        mirror's outcome is the database's, even when several close beside a debt."""
        before = self.balances[student.id]
        if self.mirror.order_matters(student.id):
            event("several holds closed beside a debt")
        self.mirror.settle(student.id)
        if self.balances[student.id] != before:
            event("credits expired")

    def bind(self, student: Account) -> None:
        """Take the expiries the database chose itself (now() + days) for the new lots."""
        rows = self.db.execute(
            "SELECT expires_at FROM credit_lots WHERE student_id = %s ORDER BY seq", (student.id,)
        ).fetchall()
        for lot, (expires_at,) in zip(self.mirror.wallets[student.id].lots, rows, strict=True):
            if not lot.exact:
                assert lot.expires is not None
                assert expires_at is not None
                assert abs(expires_at + self.shift - lot.expires) < timedelta(minutes=1)
                lot.expires, lot.exact = expires_at + self.shift, True

    def try_spend(self, student: Account, amount: int) -> httpx.Response:
        """POST /api/credits/spend: 201 when the available balance (expired credits out)
        covers it, else 402; the mirror takes the credits in the spend order."""
        self.settle(student)
        key, body = new_key(), {"amount": amount, "reason": "mock exam"}
        response = self.client.post(
            "/api/credits/spend", json=body, headers=spend_headers(student, key)
        )
        if self.available(student) >= amount:
            assert response.status_code == 201, response.text
            self.balances[student.id] -= amount
            self.mirror.debit(student.id, amount)
            assert response.json()["balanceAfter"] == self.balances[student.id]
        else:
            assert response.status_code == 402, response.text
            assert response.json()["code"] == "insufficient_credits"
        return response

    def available(self, student: Account) -> int:
        held = sum(
            h.amount for h in self.holds.values() if h.student == student and h.status == "ACTIVE"
        )
        return self.balances[student.id] - held

    def upcoming(self) -> list[tuple[datetime, str]]:
        """Every instant still ahead at which something expires, with its student."""
        ahead = [
            (lot.expires, student_id)
            for student_id, wallet in self.mirror.wallets.items()
            for lot in wallet.lots
            if lot.expires is not None and lot.expires > self.now()
        ]
        ahead += [
            (h.expires, h.student.id)
            for h in self.holds.values()
            if h.status == "ACTIVE" and h.expires > self.now()
        ]
        return sorted(ahead)

    def travel(self, how: tuple[str, int]) -> str | None:
        """Advance the clock; the student whose expiry it went past, for "past"."""
        kind, seconds = how
        now, ahead = self.now(), self.upcoming()
        owner = None
        if kind == "past" and ahead:
            target = ahead[0][0] + timedelta(seconds=seconds)
            owner = ahead[0][1]
        else:
            target = now + timedelta(seconds=seconds)
        for at, _ in ahead:  # nothing may expire in the next MARGIN: go just past it
            if target < at <= target + MARGIN:
                target = at + timedelta(seconds=1)
        self.move(target - now)
        return owner

    def move(self, delta: timedelta) -> None:
        with self.db.transaction():
            for statement in TRAVEL:
                self.db.execute(statement, {"d": delta, "students": list(self.accounts)})
        self.shift += delta

    def teardown(self) -> None:
        """Back to the real clock: the database outlives the example (the next examples and
        the audit after the test see its students), a failed one's unsettled lots included."""
        if self.shift:
            self.move(-self.shift)
        super().teardown()

    @rule(data=st.data(), student=students, seconds=st.sampled_from(PAST_BY),
          then=st.sampled_from(THEN))  # fmt: skip
    def advance_past_the_next_expiry(
        self, data: st.DataObject, student: Account, seconds: int, then: str
    ) -> None:
        self.advance(data, student, ("past", seconds), then)

    @rule(data=st.data(), student=students, seconds=st.sampled_from(ON_BY),
          then=st.sampled_from(THEN))  # fmt: skip
    def advance_the_clock(
        self, data: st.DataObject, student: Account, seconds: int, then: str
    ) -> None:
        self.advance(data, student, ("by", seconds), then)

    def advance(
        self, data: st.DataObject, student: Account, how: tuple[str, int], then: str
    ) -> None:
        """Time passes; right after it (before the job, before any read settles the student)
        a spend, the job or a look at the balance."""
        owner = self.travel(how)
        if owner is not None:
            student = self.accounts[owner]
        if then == "spend":
            counted = self.available(student)  # with the credits that just expired
            self.settle(student)
            # All it had, or just more / just what is left now: the first needs the credits
            # that expired a moment ago, so it is refused unless others cover it.
            left = self.available(student)
            amounts = sorted(a for a in {counted, left + 1, left} if a > 0) or [1]
            amount = data.draw(st.sampled_from(amounts))
            if left < amount <= counted:
                event("a spend right after an expiry needs the expired credits")
            self.try_spend(student, amount)
        elif then == "sweep":
            self.services.in_transaction(lambda session, _: expire_due_holds(session))
        elif then == "balance":
            self.look_at_balance(student)

    def look_at_balance(self, student: Account) -> None:
        """GET /api/credits/balance: every field as the settled mirror says."""
        self.settle(student)
        response = self.client.get("/api/credits/balance", headers=student.headers)
        assert response.status_code == 200, response.text
        shown = response.json()
        held = self.balances[student.id] - self.available(student)
        expected = {
            "balance": self.balances[student.id],
            "held": held,
            "available": self.available(student),
            **self.mirror.by_kind(student.id),
        }
        assert {k: shown[k] for k in expected} == expected
        if self.balances[student.id] >= 0:
            assert shown["paid"] + shown["granted"] == self.balances[student.id]
        assert [(e["amount"], instant(e["expiresAt"])) for e in shown["expiring"]] == [
            (amount, at - self.shift) for amount, at in self.mirror.expiring(student.id)
        ]

    def check_lots(self) -> None:
        """After every step: each student's balance endpoint (which settles them) and their
        lots, reservations, debts, clawbacks and EXPIRY entries as the mirror says; no spend
        took credits past their expiry. (The audit, run beside, checks that each lot's
        movements are its amount less its remainder and its EXPIRY entries what it held.)"""
        for student in self.accounts.values():
            self.look_at_balance(student)
            wallet = self.mirror.wallets[student.id]
            found = self.snapshot(student)
            expected = self.expected(wallet)
            assert found["totals"] == expected["totals"]
            if wallet.ambiguous:  # the split is PostgreSQL's row order: take it
                event("the database's split adopted")
                self.adopt(student, found)
                wallet.ambiguous = False
            else:
                assert found == expected
        found = self.db.execute(USED_PAST_EXPIRY, {"students": list(self.accounts)}).fetchall()
        assert found == []

    def expected(self, wallet: Wallet) -> dict[str, Any]:
        lots = [
            (x.kind, x.amount, x.remaining, x.reserved, x.swept, x.expires) for x in wallet.lots
        ]
        debts: dict[str | None, int] = defaultdict(int)
        for debt in wallet.debts:
            debts[debt.payment] += debt.remaining
        reservations = {
            hold_id: {i: n for i, n in h.reservations.items() if n}
            for hold_id, h in self.holds.items()
            if h.reservations and wallet is self.mirror.wallets[h.student.id]
        }
        clawed = [(m.lot.index, m.credits, m.payment, m.given_back) for m in wallet.clawed]
        return self.with_totals(lots, dict(debts), dict(wallet.expired), clawed, reservations)

    @staticmethod
    def with_totals(
        lots: list[tuple[Any, ...]], debts: dict[str | None, int], expired: dict[int, int],
        clawed: list[tuple[Any, ...]], reservations: dict[str, dict[int, int]],
    ) -> dict[str, Any]:  # fmt: skip
        totals = (
            sum(x[2] for x in lots),
            sum(x[3] for x in lots),
            sum(debts.values()),
            sum(expired.values()),
            {hold_id: sum(r.values()) for hold_id, r in reservations.items()},
        )
        expired = {i: n for i, n in expired.items() if n}
        return {"lots": lots, "debts": {p: n for p, n in debts.items() if n}, "expired": expired,
                "clawed": clawed, "reservations": reservations, "totals": totals}  # fmt: skip

    def snapshot(self, student: Account) -> dict[str, Any]:
        """The same figures, read from the database (lots by their seq order)."""
        sid = (student.id,)
        rows = self.db.execute(
            "SELECT id, kind, amount, remaining, reserved, swept, expires_at FROM credit_lots"
            " WHERE student_id = %s ORDER BY seq",
            sid,
        ).fetchall()
        index = {str(r[0]): i for i, r in enumerate(rows)}
        lots = [
            (r[1], r[2], r[3], r[4], r[5], None if r[6] is None else r[6] + self.shift)
            for r in rows
        ]
        debts = dict(
            self.db.execute(
                "SELECT t.source_id, SUM(d.remaining)::bigint FROM credit_debts d"
                " JOIN credit_transactions t ON t.id = d.entry_id"
                " WHERE d.student_id = %s GROUP BY t.source_id",
                sid,
            ).fetchall()
        )
        expired = {
            index[lot]: int(n)
            for lot, n in self.db.execute(
                "SELECT metadata->>'lotId', SUM(amount)::bigint FROM credit_transactions"
                " WHERE student_id = %s AND source_type = 'EXPIRY' GROUP BY 1",
                sid,
            ).fetchall()
        }
        clawed = [
            (index[str(lot)], credits, source, int(back))
            for lot, credits, source, back in self.db.execute(
                """SELECT m.lot_id, m.credits, t.source_id,
                          (SELECT COALESCE(SUM(g.amount), 0) FROM credit_lots g
                            WHERE g.origin_movement_id = m.id)
                     FROM lot_movements m JOIN credit_transactions t ON t.id = m.entry_id
                    WHERE t.student_id = %s AND m.kind = 'CLAWBACK' ORDER BY m.id""",
                sid,
            ).fetchall()
        ]
        reservations: dict[str, dict[int, int]] = defaultdict(dict)
        for hold_id, lot, credits in self.db.execute(
            "SELECT r.hold_id::text, r.lot_id::text, r.credits FROM lot_reservations r"
            " JOIN credit_lots l ON l.id = r.lot_id WHERE l.student_id = %s",
            sid,
        ).fetchall():
            reservations[hold_id][index[lot]] = credits
        return self.with_totals(lots, debts, expired, clawed, dict(reservations))

    def adopt(self, student: Account, found: dict[str, Any]) -> None:
        """Take the database's split between lots (its totals were checked equal)."""
        wallet = self.mirror.wallets[student.id]
        for lot, row in zip(wallet.lots, found["lots"], strict=True):
            lot.remaining, lot.reserved, lot.swept = row[2], row[3], row[4]
        wallet.expired = defaultdict(int, found["expired"])
        wallet.clawed = [
            Movement(wallet.lots[i], credits, payment, back)
            for i, credits, payment, back in found["clawed"]
        ]
        for debt in wallet.debts:  # the totals by payment (their order is the database's)
            debt.remaining = 0
        for debt in wallet.debts:
            if found["debts"].get(debt.payment):
                debt.remaining, found["debts"][debt.payment] = found["debts"][debt.payment], 0
        for hold_id, hold in self.holds.items():
            if hold.student == student:
                hold.reservations = dict(found["reservations"].get(hold_id, {}))


__all__ = ["HoldModel", "Lot", "LotRules"]
