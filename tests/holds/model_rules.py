"""The holds' part of the ledger model test (tests/credits/test_credits_model.py): rules that
create, extend, capture, release and expire holds, replay any hold call and try to spend what
is held, against a model of every hold; `check_holds()` compares the database and the API
(balance, held, available, each hold's status) with it after every step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import psycopg
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, precondition, rule

from medgrader.holds.sweep import expire_due_holds
from tests.credits.factory import new_key, spend_headers
from tests.holds.support import HOLDS, expire_now
from tests.lots.model_rules import HoldModel, LotRules, instant
from tests.support.accounts import Account
from tests.support.services import ServiceRunner


@dataclass(frozen=True)
class HoldCall:
    student: Account
    path: str
    key: str
    body: dict[str, Any] | None
    status: int
    response: dict[str, Any]


class HoldRules(LotRules):
    """Mixed into the ledger model, which keeps `balances` and fills the `students` bundle.
    Every hold reserves its credits in the lots' mirror; the clock is the lots' (LotRules)."""

    students = Bundle("students")  # the ledger model's bundle (bundles are known by name)
    balances: dict[str, int]

    def init_holds(
        self, client: httpx.Client, db: psycopg.Connection, services: ServiceRunner
    ) -> None:
        self.client, self.db, self.services = client, db, services
        self.holds: dict[str, HoldModel] = {}
        self.hold_calls: list[HoldCall] = []
        self.init_lots()

    def held(self, student: Account) -> int:
        mine = [h for h in self.holds.values() if h.student == student]
        return sum(h.amount for h in mine if h.status == "ACTIVE")

    def hold_call(self, student: Account, path: str, body: dict[str, Any] | None) -> httpx.Response:
        key = new_key()
        response = self.client.post(path, json=body, headers=spend_headers(student, key))
        self.hold_calls.append(
            HoldCall(student, path, key, body, response.status_code, response.json())
        )
        return response

    def closed_refusal(self, hold: HoldModel, response: httpx.Response) -> bool:
        """A closed hold refuses everything with 409 (hold_expired / hold_closed)."""
        if hold.status == "ACTIVE":
            return False
        code = "hold_expired" if hold.status == "EXPIRED" else "hold_closed"
        assert (response.status_code, response.json()["code"]) == (409, code), response.text
        return True

    @rule(student=students, amount=st.integers(1, 60), ttl=st.sampled_from([60, 900]))
    def create_hold(self, student: Account, amount: int, ttl: int) -> None:
        self.settle(student)
        body = {"amount": amount, "reason": "voice call", "ttlSeconds": ttl}
        response = self.hold_call(student, HOLDS, body)
        if self.available(student) >= amount:
            assert response.status_code == 201, response.text
            hold_id = response.json()["holdId"]
            expires = instant(response.json()["expiresAt"]) + self.shift
            self.holds[hold_id] = HoldModel(student, amount, expires)
            self.mirror.reserve(self.holds[hold_id], amount)
            assert response.json()["availableBalance"] == self.available(student)
        else:
            assert response.status_code == 402, response.text
            assert response.json()["code"] == "insufficient_credits"

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), additional=st.integers(0, 30))
    def extend_hold(self, data: st.DataObject, additional: int) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        self.settle(hold.student)
        response = self.hold_call(
            hold.student, f"{HOLDS}/{hold_id}/extend", {"additionalAmount": additional}
        )
        if self.closed_refusal(hold, response):
            return
        if additional == 0 or self.available(hold.student) >= additional:
            assert response.status_code == 200, response.text
            hold.amount += additional
            assert response.json()["amount"] == hold.amount
            hold.expires = instant(response.json()["expiresAt"]) + self.shift  # renewed
            if additional:
                self.mirror.reserve(hold, additional)
        else:
            assert response.status_code == 402, response.text
            assert response.json()["code"] == "insufficient_credits"

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), part=st.one_of(st.none(), st.integers(0, 70)))
    def capture_hold(self, data: st.DataObject, part: int | None) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        self.settle(hold.student)
        body = None if part is None else {"amount": part}
        response = self.hold_call(hold.student, f"{HOLDS}/{hold_id}/capture", body)
        if self.closed_refusal(hold, response):
            return
        charge = hold.amount if part is None else part
        covered = self.balances[hold.student.id] - (self.held(hold.student) - hold.amount)
        if charge > hold.amount:
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "amount_exceeds_hold"
        elif charge == 0:
            assert response.status_code == 200, response.text
            hold.status = "RELEASED"
            assert response.json()["status"] == "RELEASED"
            self.mirror.return_hold(hold)
        elif covered >= charge:
            assert response.status_code == 201, response.text
            hold.status = "CAPTURED"
            self.balances[hold.student.id] -= charge
            self.mirror.consume(hold, charge)
            assert response.json()["capturedAmount"] == charge
            assert response.json()["availableBalance"] == self.available(hold.student)
        else:  # only after a clawback: the hold stays as it was
            assert response.status_code == 402, response.text
            assert response.json()["code"] == "insufficient_credits"

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release_hold(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[hold_id]
        self.settle(hold.student)
        response = self.hold_call(hold.student, f"{HOLDS}/{hold_id}/release", None)
        if self.closed_refusal(hold, response):
            return
        assert response.status_code == 200, response.text
        hold.status = "RELEASED"
        self.mirror.return_hold(hold)

    @precondition(lambda self: any(h.status == "ACTIVE" for h in self.holds.values()))
    @rule(data=st.data(), sweep=st.booleans())
    def expire_hold(self, data: st.DataObject, sweep: bool) -> None:
        """Its time passes (its own expiry moved in the database); maybe the sweep runs too."""
        live = sorted(k for k, h in self.holds.items() if h.status == "ACTIVE")
        hold_id = data.draw(st.sampled_from(live))
        expire_now(self.db, hold_id)
        self.holds[hold_id].expires = self.now() - timedelta(seconds=1)
        self.settle(self.holds[hold_id].student)
        if sweep:
            self.services.in_transaction(lambda session, _: expire_due_holds(session))

    @precondition(lambda self: any(h.status == "ACTIVE" for h in self.holds.values()))
    @rule(data=st.data(), over=st.integers(0, 5), as_hold=st.booleans())
    def spend_into_held_credits(self, data: st.DataObject, over: int, as_hold: bool) -> None:
        """Ask for just more than is available, though the balance alone would cover it:
        the credits an active hold reserves are not spendable, by a spend or a new hold."""
        live = sorted(k for k, h in self.holds.items() if h.status == "ACTIVE")
        student = self.holds[data.draw(st.sampled_from(live))].student
        self.settle(student)
        amount = max(1, self.available(student) + 1 + over)
        if as_hold:
            body = {"amount": amount, "reason": "voice call"}
            response = self.hold_call(student, HOLDS, body)
        else:
            response = self.client.post(
                "/api/credits/spend",
                json={"amount": amount, "reason": "mock exam"},
                headers=spend_headers(student, new_key()),
            )
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "insufficient_credits"

    @precondition(lambda self: self.hold_calls)
    @rule(data=st.data())
    def replay_a_hold_call(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(self.hold_calls))
        response = self.client.post(
            call.path, json=call.body, headers=spend_headers(call.student, call.key)
        )
        assert (response.status_code, response.json()) == (call.status, call.response)

    def check_holds(self) -> None:
        if not self.holds:
            return
        statuses = self.db.execute(
            "SELECT id::text, CASE WHEN status = 'ACTIVE' AND expires_at <= now()"
            " THEN 'EXPIRED' ELSE status END FROM credit_holds WHERE id = ANY(%s::uuid[])",
            (list(self.holds),),
        ).fetchall()
        assert dict(statuses) == {k: h.status for k, h in self.holds.items()}
