"""A model-based test: random sequences of sign-ups, spends, replays, key misuse, admin
adjustments and clawbacks against a plain Python model of every balance, checking after
every step that the database agrees with the model and that the audit is clean."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from medgrader.ledger import service as ledger
from medgrader.models.ledger import SourceType
from tests.credits.factory import make_student, new_key, spend_headers
from tests.support.accounts import Account
from tests.support.invariants import audit_findings
from tests.support.services import ServiceRunner

WELCOME_BONUS = 100
# The lead wires purchases (checkout + duplicate webhooks) into this model when that loop
# lands: flip this and fill in `purchase_with_duplicate_webhooks` below.
PURCHASES_WIRED = False


@dataclass(frozen=True)
class SpendRecord:
    student: Account
    key: str
    body: dict[str, Any]
    status: int
    response: dict[str, Any]


def test_the_ledger_follows_the_model(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, admin: Account
) -> None:
    class LedgerModel(RuleBasedStateMachine):
        students = Bundle("students")

        def __init__(self) -> None:
            super().__init__()
            self.balances: dict[str, int] = {}
            self.spends: list[SpendRecord] = []

        @rule(target=students)
        def sign_up(self) -> Account:
            student = make_student(services)
            self.balances[student.id] = WELCOME_BONUS
            return student

        @rule(
            student=students,
            amount=st.integers(1, 80),
            reason=st.sampled_from(["voice tutoring", "mock exam"]),
        )
        def spend(self, student: Account, amount: int, reason: str) -> None:
            key, body = new_key(), {"amount": amount, "reason": reason}
            response = client.post(
                "/api/credits/spend", json=body, headers=spend_headers(student, key)
            )
            if self.balances[student.id] >= amount:
                assert response.status_code == 201, response.text
                self.balances[student.id] -= amount
                assert response.json()["balanceAfter"] == self.balances[student.id]
            else:
                assert response.status_code == 402, response.text
                assert response.json()["code"] == "insufficient_credits"
            self.spends.append(
                SpendRecord(student, key, body, response.status_code, response.json())
            )

        @precondition(lambda self: self.spends)
        @rule(data=st.data())
        def replay_a_spend(self, data: st.DataObject) -> None:
            record = data.draw(st.sampled_from(self.spends))
            response = client.post(
                "/api/credits/spend",
                json=record.body,
                headers=spend_headers(record.student, record.key),
            )
            assert (response.status_code, response.json()) == (record.status, record.response)

        @precondition(lambda self: self.spends)
        @rule(data=st.data(), other_amount=st.integers(1, 80))
        def reuse_a_key_for_another_spend(self, data: st.DataObject, other_amount: int) -> None:
            record = data.draw(st.sampled_from(self.spends))
            body = dict(record.body)
            body["amount"] = other_amount if other_amount != body["amount"] else other_amount + 1
            response = client.post(
                "/api/credits/spend", json=body, headers=spend_headers(record.student, record.key)
            )
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "idempotency_key_reused"

        @rule(
            student=students,
            amount=st.integers(-150, 150).filter(bool),
            with_key=st.booleans(),
        )
        def admin_adjustment(self, student: Account, amount: int, with_key: bool) -> None:
            key = new_key() if with_key else None
            headers = dict(admin.headers) | ({"Idempotency-Key": key} if key else {})
            url = f"/api/admin/students/{student.id}/credit-adjustments"
            body = {"amount": amount, "reason": "model adjustment"}
            response = client.post(url, json=body, headers=headers)
            if amount > 0 or self.balances[student.id] >= -amount:
                assert response.status_code == 201, response.text
                self.balances[student.id] += amount
                assert response.json()["balanceAfter"] == self.balances[student.id]
            else:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "insufficient_credits"
            if key is not None:
                again = client.post(url, json=body, headers=headers)
                assert (again.status_code, again.json()) == (response.status_code, response.json())

        @rule(student=students, amount=st.integers(1, 200))
        def refund_clawback(self, student: Account, amount: int) -> None:
            services.in_transaction(
                lambda session, _: ledger.clawback(
                    session,
                    student_id=uuid.UUID(student.id),
                    amount=amount,
                    source_type=SourceType.REFUND,
                    description="model clawback",
                )
            )
            self.balances[student.id] -= amount

        # --- purchases with duplicate webhooks: the lead wires this in -------------------
        @precondition(lambda self: PURCHASES_WIRED)
        @rule(student=students)
        def purchase_with_duplicate_webhooks(self, student: Account) -> None:
            # TODO(lead): checkout a package for `student`, pay it in the Stripe emulator,
            # deliver `checkout.session.completed` several times (and/or concurrently), then
            # add the package's credits to self.balances[student.id] exactly once.
            raise NotImplementedError

        # ---------------------------------------------------------------------------------

        @invariant()
        def database_agrees_with_the_model(self) -> None:
            if not self.balances:
                return
            rows = db.execute(
                "SELECT user_id::text, credit_balance FROM student_profiles "
                "WHERE user_id = ANY(%s::uuid[])",
                (list(self.balances),),
            ).fetchall()
            assert dict(rows) == self.balances
            assert audit_findings(db) == []

    run_state_machine_as_test(
        LedgerModel,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
        ),
    )
