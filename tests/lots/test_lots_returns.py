"""Refunds and disputes: the credits taken back come from the purchase's own lot, then the
student's other lots in the spend order, then as a debt the next credits pay first; credits
given back return as lots of the kind, expiry and value of those they replace."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import balance, settle_webhooks
from tests.lots.support import debt, expire_lot, grant, lots, movements, spend
from tests.payments.returns_support import buy_and_pay, return_entries
from tests.support.accounts import Account
from tests.support.services import ServiceRunner


def test_a_lost_dispute_takes_the_own_lot_then_the_others_then_a_debt(
    client: httpx.Client, student: Account, packages: dict[str, Any], services: ServiceRunner,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    _, bought = lots(db, student.id)
    assert (bought["kind"], bought["source"], bought["amount"]) == ("PAID", "PURCHASE", 100)
    assert (bought["value_minor"], bought["currency"], bought["expires_at"]) == (1000, "GBP", None)
    spent = spend(services, student.id, 150)  # the welcome bonus (expiring) first, then 50 paid
    assert spent is not None
    assert [n for _, n, _ in movements(db, spent)] == [100, 50]
    assert [v for _, _, v in movements(db, spent)] == [None, 500]
    grant(services, student.id, 20)  # another lot, never expiring
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent, reason="fraudulent")
    settle_webhooks(stripe_emulator)
    stripe_emulator.close_dispute(dispute["id"], "lost")
    settle_webhooks(stripe_emulator)
    (clawback,) = return_entries(db, paid.payment_id)
    taken = movements(db, clawback["id"])
    # 50 left in its own lot (worth 500p), then the 20 of the grant, then 30 owed.
    assert [(lot, n, v) for lot, n, v in taken] == [
        (str(bought["id"]), 50, 500),
        (str(lots(db, student.id)[2]["id"]), 20, None),
    ]
    assert debt(db, student.id) == 30
    assert balance(db, student.id) == -30
    grant(services, student.id, 40)  # the next credits pay the debt first
    assert debt(db, student.id) == 0
    assert balance(db, student.id) == 10
    assert lots(db, student.id)[-1]["remaining"] == 10


def test_a_won_dispute_gives_back_lots_like_those_taken(
    client: httpx.Client, student: Account, packages: dict[str, Any], services: ServiceRunner,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert spend(services, student.id, 130) is not None  # welcome 100, then 30 paid (300p)
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent)
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == -30  # 70 from its own lot, 30 owed
    grant(services, student.id, 10)  # pays 10 of the debt: a clawback movement of that lot
    stripe_emulator.close_dispute(dispute["id"], "won")
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == 80  # -20 + 100: the rest of the debt paid first
    assert debt(db, student.id) == 0
    given_back = [lot for lot in lots(db, student.id)[3:]]
    # The granted 10 that paid the debt come back granted, the 70 paid ones paid, at 10p each;
    # the 20 never taken (the rest of the debt) come back like the purchase's own lot.
    assert sorted((lot["kind"], lot["amount"], lot["value_minor"]) for lot in given_back) == [
        ("GRANTED", 10, None),
        ("PAID", 20, 200),
        ("PAID", 70, 700),
    ]


def test_credits_given_back_to_an_expired_lot_pay_the_debt_their_clawback_left(
    client: httpx.Client, student: Account, packages: dict[str, Any], services: ServiceRunner,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert spend(services, student.id, 200) is not None  # the welcome 100, then all 100 paid
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent)
    settle_webhooks(stripe_emulator)
    assert (balance(db, student.id), debt(db, student.id)) == (-100, 100)  # nothing to take
    expire_lot(db, lots(db, student.id)[1]["entry_id"])  # the purchase's lot expires (empty)
    stripe_emulator.close_dispute(dispute["id"], "won")
    settle_webhooks(stripe_emulator)
    # The 100 come back like the purchase's lot, expired: they pay the debt their clawback
    # left, so nothing is left to expire below zero and the student can go on.
    assert (balance(db, student.id), debt(db, student.id)) == (0, 0)
    shown = client.get("/api/credits/balance", headers=student.headers)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["balance"], shown.json()["paid"]) == (0, 0)
    assert grant(services, student.id, 5) is not None
    assert balance(db, student.id) == 5
