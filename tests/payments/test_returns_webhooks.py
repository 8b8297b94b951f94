"""Refunds and disputes that reach us only as Stripe's signed events (a Dashboard refund, a
bank's chargeback), in any order, more than once, concurrently with the admin endpoint, and
stale. Whatever arrives how, the credits taken back end equal to the rule applied to what
Stripe says now; the audit is clean after every scenario (`invariants`)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    balance,
    inbox,
    make_event,
    post_event,
    settle_webhooks,
    stripe_client,
    webhook_faults,
)
from tests.payments.returns_support import (
    admin_refund,
    assert_rule_holds,
    buy_and_pay,
    events_of,
    payment_row,
    refund_rows,
    return_entries,
)
from tests.support.accounts import Account


def outcomes(db: psycopg.Connection, events: list[dict[str, Any]]) -> list[str]:
    return [str((inbox(db, e["id"]) or {}).get("outcome")) for e in events]


def test_a_dashboard_refund_arrives_only_as_events(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    before = balance(db, student.id)
    stripe_emulator.refund(payment_intent=paid.payment_intent, amount=500)  # as in the Dashboard
    settle_webhooks(stripe_emulator)

    assert balance(db, student.id) == before - 50
    row = assert_rule_holds(db, paid, returned=500)
    assert row["status"] == "PARTIALLY_REFUNDED"
    (entry,) = return_entries(db, paid.payment_id)
    assert (entry["entry_type"], entry["amount"], entry["actor_id"]) == ("DEBIT", 50, None)
    (refund,) = refund_rows(db, paid.payment_id)
    assert (refund["amount_pence"], refund["credits_clawed_back"]) == (500, 50)
    events = events_of(stripe_emulator, paid)
    assert {e["type"] for e in events} >= {"refund.created", "charge.refunded"}
    # Each event was processed; whichever came first took the credits back, the rest agreed.
    found = outcomes(db, events)
    assert sorted(found)[0] == "returns_applied: -50 credits", found
    assert all(o in ("returns_applied: -50 credits", "returns_unchanged") for o in found)
    assert found.count("returns_applied: -50 credits") == 1


def test_every_event_twice_shuffled_and_ten_times_at_once_while_admins_refund(
    app_url: str, client: httpx.Client, student: Account, admin: Account,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["premium"])  # 1000 / 8000
    before = balance(db, student.id)
    with webhook_faults(stripe_emulator, app_url, duplicate_probability=1.0,
                        shuffle_window=4, shuffle_hold_ms=100):  # fmt: skip
        with ThreadPoolExecutor(max_workers=4) as pool:
            dashboard = pool.submit(
                stripe_emulator.refund, payment_intent=paid.payment_intent, amount=1234
            )
            by_admin = [
                pool.submit(admin_refund, client, admin, paid.payment_id, amount=amount)
                for amount in (777, 1001)
            ]
            dashboard.result()
            assert all(f.result().status_code == 201 for f in by_admin)
        settle_webhooks(stripe_emulator)

        # Stripe re-sends every refund event ten times at once while another admin refunds.
        events = events_of(stripe_emulator, paid)
        assert len(events) >= 6
        with ThreadPoolExecutor(max_workers=8) as pool:
            third = pool.submit(admin_refund, client, admin, paid.payment_id, amount=999)
            resent = [
                pool.submit(stripe_emulator.resend, e["id"]) for e in events for _ in range(10)
            ]
            for done in resent:
                done.result()
            assert third.result().status_code == 201
        settle_webhooks(stripe_emulator)

    returned = 1234 + 777 + 1001 + 999
    assert_rule_holds(db, paid, returned=returned)
    assert balance(db, student.id) == before - -(-1000 * returned // 8000)
    refunds = refund_rows(db, paid.payment_id)
    assert sorted(r["amount_pence"] for r in refunds) == [777, 999, 1001, 1234]
    # The shares add up to what the rule took back: nothing counted twice.
    assert (
        sum(r["credits_clawed_back"] for r in refunds)
        == payment_row(db, paid.payment_id)["credits_clawed_back"]
    )
    assert all(o != "None" for o in outcomes(db, events_of(stripe_emulator, paid)))


def test_a_stale_or_false_event_cannot_move_credits(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    first = admin_refund(client, admin, paid.payment_id, amount=300)
    assert first.status_code == 201
    settle_webhooks(stripe_emulator)
    old_charge = next(
        e for e in events_of(stripe_emulator, paid) if e["type"] == "charge.refunded"
    )["data"]["object"]
    assert admin_refund(client, admin, paid.payment_id, amount=200).status_code == 201
    settle_webhooks(stripe_emulator)
    assert_rule_holds(db, paid, returned=500)
    entries = len(return_entries(db, paid.payment_id))

    # The first charge.refunded again, re-sent under a new event id after the newer state.
    stale = make_event("charge.refunded", old_charge)
    assert post_event(client, stale).status_code == 200
    # A signed event claiming more than Stripe says (and an earlier refund state): Stripe is
    # asked, and Stripe says otherwise.
    claim = dict(old_charge, amount_refunded=1000, refunded=True)
    assert post_event(client, make_event("charge.refunded", claim)).status_code == 200
    pending = dict(refund_rows(db, paid.payment_id)[0])
    refund_obj = (
        stripe_client(stripe_emulator).v1.refunds.retrieve(pending["stripe_refund_id"]).to_dict()
    )
    back_in_time = make_event("refund.updated", dict(refund_obj, status="pending"))
    assert post_event(client, back_in_time).status_code == 200

    assert_rule_holds(db, paid, returned=500)
    assert len(return_entries(db, paid.payment_id)) == entries
    assert [r["status"] for r in refund_rows(db, paid.payment_id)] == ["succeeded"] * 2
    for event in (stale, back_in_time):
        stored = inbox(db, event["id"])
        assert stored is not None
        assert (stored["outcome"], stored["processed_at"] is not None) == (
            "returns_unchanged",
            True,
        )


def test_a_refund_of_a_payment_we_do_not_know_is_kept_and_acknowledged(
    client: httpx.Client, db: psycopg.Connection, invariants: None
) -> None:
    refund = {"id": f"re_test_{uuid.uuid4().hex[:16]}", "object": "refund", "amount": 500,
              "currency": "gbp", "status": "succeeded", "created": 1_780_000_000,
              "payment_intent": f"pi_unknown_{uuid.uuid4().hex[:12]}", "metadata": {}}  # fmt: skip
    entries = db.execute("SELECT count(*) FROM credit_transactions").fetchone()
    event = make_event("refund.created", refund)
    response = post_event(client, event)
    assert (response.status_code, response.json()) == (200, {"received": True})
    stored = inbox(db, event["id"])
    assert stored is not None
    assert stored["outcome"].startswith("unknown_payment")
    assert stored["processed_at"] is None  # a replay handles it once the payment exists
    assert db.execute("SELECT count(*) FROM credit_transactions").fetchone() == entries
    assert db.execute(
        "SELECT count(*) FROM refunds WHERE stripe_refund_id = %s", (refund["id"],)
    ).fetchone() == (0,)


def test_a_malformed_refund_event_is_kept_for_a_human(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    no_intent = make_event("refund.created", {"id": "re_x", "object": "refund", "amount": 5})
    response = post_event(client, no_intent)
    assert response.status_code == 200
    stored = inbox(db, no_intent["id"])
    assert stored is not None
    assert stored["outcome"].startswith("malformed")
    assert json.loads(json.dumps(stored["payload"])) == no_intent
