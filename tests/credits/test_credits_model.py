"""A model-based test: random sequences of sign-ups, spends, replays, key misuse, admin
adjustments, clawbacks, purchases (checkout over HTTP, paid in the Stripe emulator, its
webhooks delivered several times and raced by the status endpoint), refunds (by the admin
endpoint and from the Dashboard), disputes (opened, won, lost) and credit holds (create,
extend, capture, release, expire, replays) against a plain Python model of every balance,
payment and hold, checking after every step that the database agrees with the model
(balance, held, available, each hold's status) and that the audit is clean (which includes
completed sessions <-> PURCHASE entries <-> payments, for every payment the clawback rule
min(C, ceil(C*R/A)), and one USAGE entry per captured hold)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    PACKAGE_SPECS,
    assert_paid_once,
    make_event,
    post_event,
    retrieve_session,
    settle_webhooks,
    start_checkout,
    stripe_events,
    webhook_faults,
)
from tests.credits.factory import make_student, new_key, spend_headers
from tests.holds.model_rules import HoldRules
from tests.lots.model_rules import GRANT_EXPIRIES
from tests.lots.support import clawback
from tests.payments.returns_support import clawback_rule
from tests.support.accounts import Account
from tests.support.invariants import audit_findings
from tests.support.services import ServiceRunner
from tests.support.tiers import NewClient

WELCOME_BONUS = 100
# Each purchase is a real checkout, Stripe payment and webhook round trip (a few hundred ms):
# a few per example keep the whole machine well under a minute.
MAX_PURCHASES_PER_EXAMPLE = 3
# What may happen to a paid session after its payment, besides Stripe's own deliveries.
AFTERMATHS = ("resend_events", "signed_async_succeeded", "status_check")


@dataclass
class PaymentModel:
    student: Account
    payment_id: str
    payment_intent: str
    credits: int
    pence: int
    refunded: int = 0
    disputed: int = 0
    dispute_id: str | None = None
    dispute_open: bool = False
    taken_back: int = 0

    @property
    def refundable(self) -> int:
        return self.pence - self.refunded - self.disputed


@dataclass(frozen=True)
class SpendRecord:
    student: Account
    key: str
    body: dict[str, Any]
    status: int
    response: dict[str, Any]


def test_the_ledger_follows_the_model(
    client: httpx.Client, db: psycopg.Connection, services: ServiceRunner, admin: Account,
    app_url: str, new_client: NewClient, stripe_emulator: EmulatorServer,
    packages: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    # The packages, and two whose credits expire (validityDays): name -> (credits, pence, days).
    SPECS: dict[str, tuple[int, int, int | None]] = {
        name: (credits, pence, None) for name, (credits, pence) in PACKAGE_SPECS.items()
    }
    catalog = dict(packages)
    for name, credits, pence, days in (("starter-1d", 100, 1000, 1), ("value-30d", 500, 4500, 30)):
        made = client.post(
            "/api/credit-packages",
            json={"name": f"{name} {new_key()[:8]}", "description": f"{credits} credits",
                  "credits": credits, "priceInCents": pence, "validityDays": days},
            headers=admin.headers,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        catalog[name], SPECS[name] = made.json(), (credits, pence, days)

    def checkout_status(student: Account, session_id: str) -> str:
        # Its own client: called from several threads at once.
        with new_client() as http:
            response = http.get(
                f"/api/payments/checkout-status/{session_id}", headers=student.headers
            )
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    def resend_events(session_id: str) -> None:
        # Stripe retrying every completion event of the session (a duplicate delivery each).
        for event_type in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ):
            for event_id in stripe_events(stripe_emulator, session_id, event_type):
                stripe_emulator.resend(event_id)

    def signed_async_succeeded(session_id: str) -> None:
        # A genuinely signed late `async_payment_succeeded` for the paid session.
        paid = retrieve_session(stripe_emulator, session_id)
        event = make_event("checkout.session.async_payment_succeeded", paid)
        with new_client() as http:
            assert post_event(http, event).status_code == 200

    class LedgerModel(HoldRules):
        students = Bundle("students")

        def __init__(self) -> None:
            super().__init__()
            self.balances: dict[str, int] = {}
            self.spends: list[SpendRecord] = []
            self.purchases = 0
            self.payments: list[PaymentModel] = []
            # (payment, Stripe refund id, amount) of refunds that have not failed
            self.live_refunds: list[tuple[PaymentModel, str, int]] = []
            self.init_holds(client, db, services)

        def returned(self, payment: PaymentModel) -> None:
            """Stripe returned money: the credits follow the rule, from the cumulative R,
            taken from the purchase's lot first, or given back like those taken."""
            target = clawback_rule(
                payment.credits, payment.pence, payment.refunded + payment.disputed
            )
            student_id, change = payment.student.id, target - payment.taken_back
            self.balances[student_id] -= change
            payment.taken_back = target
            if change > 0:
                self.mirror.claw(student_id, change, payment.payment_id)
            elif change < 0:
                self.mirror.give_back(student_id, payment.payment_id, -change)

        def refundable(self) -> list[PaymentModel]:
            return [p for p in self.payments if p.refundable > 0 and p.dispute_id is None]

        @rule(target=students)
        def sign_up(self) -> Account:
            student = make_student(services)
            self.balances[student.id] = WELCOME_BONUS
            self.accounts[student.id] = student
            # The welcome bonus: a granted lot expiring in WELCOME_BONUS_EXPIRES_DAYS.
            expires = self.now() + timedelta(days=services.ctx.settings.welcome_bonus_expires_days)
            self.mirror.credit(student.id, "GRANTED", WELCOME_BONUS, expires, exact=False)
            self.bind(student)
            return student

        @rule(student=students, amount=st.integers(1, 80))
        def spend(self, student: Account, amount: int) -> None:
            response = self.try_spend(student, amount)  # active holds are not spendable
            request = response.request
            self.spends.append(
                SpendRecord(student, request.headers["Idempotency-Key"],
                            json.loads(request.content), response.status_code, response.json())
            )  # fmt: skip

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
            expires_in=st.sampled_from(GRANT_EXPIRIES),
        )
        def admin_adjustment(
            self, student: Account, amount: int, with_key: bool, expires_in: int | None
        ) -> None:
            self.settle(student)
            key = new_key() if with_key else None
            headers = dict(admin.headers) | ({"Idempotency-Key": key} if key else {})
            url = f"/api/admin/students/{student.id}/credit-adjustments"
            body: dict[str, Any] = {"amount": amount, "reason": "model adjustment"}
            expires = None
            if amount > 0 and expires_in is not None:  # an instant of the real clock
                expires = datetime.now(UTC) + timedelta(seconds=expires_in)
                body["expiresAt"] = expires.isoformat()
            response = client.post(url, json=body, headers=headers)
            if amount > 0 or self.available(student) >= -amount:
                assert response.status_code == 201, response.text
                self.balances[student.id] += amount
                if amount > 0:
                    world = None if expires is None else expires + self.shift
                    self.mirror.credit(student.id, "GRANTED", amount, world)
                else:
                    self.mirror.debit(student.id, -amount)
                assert response.json()["balanceAfter"] == self.balances[student.id]
            else:
                assert response.status_code == 409, response.text
                # Its own code (issue 16): insufficient_credits is 402 everywhere.
                assert response.json()["code"] == "adjustment_exceeds_balance"
            if key is not None:
                again = client.post(url, json=body, headers=headers)
                assert (again.status_code, again.json()) == (response.status_code, response.json())

        @rule(student=students, amount=st.integers(1, 200))
        def refund_clawback(self, student: Account, amount: int) -> None:
            self.settle(student)
            clawback(services, student.id, amount)
            self.balances[student.id] -= amount
            self.mirror.claw(student.id, amount)

        @precondition(lambda self: self.purchases < MAX_PURCHASES_PER_EXAMPLE)
        @rule(
            student=students,
            package=st.sampled_from(sorted(SPECS)),
            bank_transfer=st.booleans(),
            duplicate_deliveries=st.booleans(),
            racing_status_checks=st.integers(0, 3),
            aftermath=st.lists(st.sampled_from(AFTERMATHS), max_size=3),
            aftermath_concurrently=st.booleans(),
        )
        def purchase(
            self, student: Account, package: str, bank_transfer: bool,
            duplicate_deliveries: bool, racing_status_checks: int, aftermath: list[str],
            aftermath_concurrently: bool,
        ) -> None:  # fmt: skip
            """Buy a package end to end; whatever arrives how often, it credits once."""
            self.settle(student)
            credits, pence, validity = SPECS[package]
            created = start_checkout(client, student, catalog[package]["id"])
            session_id = created["sessionId"]
            assert (created["credits"], created["amount"]) == (credits, pence)
            self.purchases += 1

            faults = (
                webhook_faults(stripe_emulator, app_url, duplicate_probability=1.0)
                if duplicate_deliveries  # every event delivered twice, concurrently
                else contextlib.nullcontext()
            )
            with faults, ThreadPoolExecutor(max_workers=4) as pool:
                if bank_transfer:  # completed unpaid first, then async_payment_succeeded
                    stripe_emulator.pay(session_id, method="bank_transfer")
                    stripe_emulator.settle(session_id, "succeeded")
                else:
                    stripe_emulator.pay(session_id)
                # The success page, racing the webhooks: Stripe says paid, so it fulfils (or
                # finds the webhook did) and answers COMPLETED every time.
                racing = [
                    pool.submit(checkout_status, student, session_id)
                    for _ in range(racing_status_checks)
                ]
                assert [f.result() for f in racing] == ["COMPLETED"] * racing_status_checks
                settle_webhooks(stripe_emulator)

            actions: dict[str, Callable[[], object]] = {
                "resend_events": lambda: resend_events(session_id),
                "signed_async_succeeded": lambda: signed_async_succeeded(session_id),
                "status_check": lambda: checkout_status(student, session_id),
            }
            if aftermath_concurrently:
                with ThreadPoolExecutor(max_workers=3) as pool:
                    for done in [pool.submit(actions[name]) for name in aftermath]:
                        done.result()
            else:
                for name in aftermath:
                    actions[name]()
            settle_webhooks(stripe_emulator)

            assert checkout_status(student, session_id) == "COMPLETED"
            payment = assert_paid_once(db, student.id, session_id, credits, pence)
            self.balances[student.id] += credits
            expires = None if validity is None else self.now() + timedelta(days=validity)
            self.mirror.credit(student.id, "PAID", credits, expires, exact=validity is None,
                               payment=str(payment["id"]))  # fmt: skip
            self.bind(student)
            self.payments.append(
                PaymentModel(student, str(payment["id"]), payment["stripe_payment_intent_id"],
                             credits, pence)
            )  # fmt: skip

        @precondition(lambda self: self.refundable())
        @rule(data=st.data(), by_admin=st.booleans(), whole=st.booleans())
        def refund(self, data: st.DataObject, by_admin: bool, whole: bool) -> None:
            """A refund by the admin endpoint (negative balance allowed) or from the Dashboard
            (only as events); the credits follow the rule either way."""
            payment = data.draw(st.sampled_from(self.refundable()))
            self.settle(payment.student)
            amount = payment.refundable if whole else data.draw(st.integers(1, payment.refundable))
            if by_admin:
                response = client.post(
                    f"/api/admin/payments/{payment.payment_id}/refunds",
                    json={"amount": amount, "allowNegativeBalance": True},
                    headers=admin.headers,
                )
                assert response.status_code == 201, response.text
                refund_id = response.json()["id"]
            else:
                made = stripe_emulator.refund(payment_intent=payment.payment_intent, amount=amount)
                refund_id = made["id"]
            settle_webhooks(stripe_emulator)
            payment.refunded += amount
            self.live_refunds.append((payment, refund_id, amount))
            self.returned(payment)

        @precondition(lambda self: any(p.dispute_id is None for p, _, _ in self.live_refunds))
        @rule(data=st.data())
        def refund_fails(self, data: st.DataObject) -> None:
            """The bank sends a refund back (as Stripe's card 5126 does): credits return."""
            choice = data.draw(
                st.sampled_from([r for r in self.live_refunds if r[0].dispute_id is None])
            )
            payment, refund_id, amount = choice
            self.settle(payment.student)
            stripe_emulator.fail_refund(refund_id)
            settle_webhooks(stripe_emulator)
            self.live_refunds.remove(choice)
            payment.refunded -= amount
            self.returned(payment)

        @precondition(lambda self: self.refundable())
        @rule(data=st.data())
        def dispute(self, data: st.DataObject) -> None:
            payment = data.draw(st.sampled_from(self.refundable()))
            self.settle(payment.student)
            opened = stripe_emulator.dispute(payment_intent=payment.payment_intent)
            settle_webhooks(stripe_emulator)
            payment.dispute_id, payment.dispute_open = opened["id"], True
            payment.disputed = opened["amount"]
            self.returned(payment)

        @precondition(lambda self: any(p.dispute_open for p in self.payments))
        @rule(data=st.data(), won=st.booleans())
        def close_dispute(self, data: st.DataObject, won: bool) -> None:
            payment = data.draw(st.sampled_from([p for p in self.payments if p.dispute_open]))
            assert payment.dispute_id is not None
            self.settle(payment.student)
            stripe_emulator.close_dispute(payment.dispute_id, "won" if won else "lost")
            settle_webhooks(stripe_emulator)
            payment.dispute_open = False
            if won:
                payment.disputed = 0
            self.returned(payment)

        @invariant()
        def database_agrees_with_the_model(self) -> None:
            if not self.balances:
                return
            self.check_lots()  # reads every balance: settles what the clock expired
            rows = db.execute(
                "SELECT user_id::text, credit_balance FROM student_profiles "
                "WHERE user_id = ANY(%s::uuid[])",
                (list(self.balances),),
            ).fetchall()
            assert dict(rows) == self.balances
            for payment in self.payments:
                row = db.execute(
                    "SELECT amount_refunded_pence, amount_disputed_pence, credits_clawed_back "
                    "FROM payments WHERE id = %s",
                    (payment.payment_id,),
                ).fetchone()
                assert row == (payment.refunded, payment.disputed, payment.taken_back)
            assert audit_findings(db) == []
            self.check_holds()

    run_state_machine_as_test(
        LedgerModel,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
        ),
    )
