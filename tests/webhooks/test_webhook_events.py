"""Webhook handling with the real emulator: duplicates, concurrency, delayed payments, order,
mismatches and failures. After every scenario the ledger audit is clean (`invariants`)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    assert_not_paid,
    assert_paid_once,
    balance,
    inbox,
    inbox_for_session,
    make_event,
    payments_for,
    post_event,
    purchase_entries,
    retrieve_session,
    session_row,
    settle_webhooks,
    sign,
    start_checkout,
    stripe_events,
    webhook_faults,
    webhooks_paused,
)
from tests.conftest import WEBHOOK_PATH
from tests.support.accounts import Account
from tests.support.tiers import NewClient


def buy(
    client: httpx.Client, student: Account, packages: dict[str, Any], key: str = "starter"
) -> str:
    return start_checkout(client, student, packages[key]["id"])["sessionId"]  # type: ignore[no-any-return]


def paid_event(emulator: EmulatorServer, session_id: str, **changes: Any) -> dict[str, Any]:
    """A checkout.session.completed for the session as Stripe has it, marked paid, then changed."""
    obj = retrieve_session(emulator, session_id)
    obj.update(status="complete", payment_status="paid", payment_intent=f"pi_{session_id[-12:]}")
    obj.update(changes)
    return make_event("checkout.session.completed", obj)


def outcomes(db: psycopg.Connection, session_id: str, event_type: str) -> list[str]:
    return [e["outcome"] for e in inbox_for_session(db, session_id) if e["type"] == event_type]


def test_one_event_delivered_twice_credits_once(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    (event_id,) = stripe_events(stripe_emulator, session_id, "checkout.session.completed")
    stripe_emulator.resend(event_id)
    settle_webhooks(stripe_emulator)

    attempts = stripe_emulator.deliveries(event_id=event_id)
    assert len(attempts) >= 2
    assert all(a["ok"] and a["status_code"] == 200 for a in attempts)
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)
    assert outcomes(db, session_id, "checkout.session.completed") == ["fulfilled"]


def test_same_signed_event_20_times_concurrently_credits_once(
    new_client: NewClient, student: Account, packages: dict[str, Any], client: httpx.Client,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages, "value")
    payload = json.dumps(paid_event(stripe_emulator, session_id)).encode()
    header = sign(payload)

    def deliver(_: int) -> int:
        with new_client() as http:
            response = http.post(
                WEBHOOK_PATH, content=payload,
                headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            )  # fmt: skip
            return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(deliver, range(20)))
    assert statuses == [200] * 20
    assert balance(db, student.id) == before + 500
    assert_paid_once(db, student.id, session_id, 500, 4500)


def test_emulator_duplicate_fault_credits_once(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_ids = [buy(client, student, packages, key) for key in ("starter", "value", "premium")]
    with webhook_faults(stripe_emulator, app_url, duplicate_probability=1.0, shuffle_window=6):
        for session_id in session_ids:
            stripe_emulator.pay(session_id)
        settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 1600
    for session_id, (credits, pence) in zip(session_ids, ((100, 1000), (500, 4500), (1000, 8000)),
                                            strict=True):  # fmt: skip
        assert_paid_once(db, student.id, session_id, credits, pence)


def test_completed_and_async_succeeded_credit_once(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    paid = retrieve_session(stripe_emulator, session_id)
    late = post_event(client, make_event("checkout.session.async_payment_succeeded", paid))
    assert late.status_code == 200
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)
    assert outcomes(db, session_id, "checkout.session.async_payment_succeeded") == [
        "already_completed"
    ]


def test_expired_after_completed_stays_completed(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    obj = retrieve_session(stripe_emulator, session_id)
    obj["status"] = "expired"
    response = post_event(client, make_event("checkout.session.expired", obj))
    assert response.status_code == 200
    assert session_row(db, session_id)["status"] == "COMPLETED"
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)
    assert outcomes(db, session_id, "checkout.session.expired") == ["unchanged: already COMPLETED"]


def test_expired_unpaid_session(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    stripe_emulator.expire(session_id)
    settle_webhooks(stripe_emulator)
    assert session_row(db, session_id)["status"] == "EXPIRED"
    assert outcomes(db, session_id, "checkout.session.expired") == ["expired"]
    assert balance(db, student.id) == before
    assert_not_paid(db, session_id)


def test_delayed_payment_then_settled_credits_once(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages, "premium")
    stripe_emulator.pay(session_id, method="bank_transfer")
    settle_webhooks(stripe_emulator)
    # Completed but unpaid: nothing yet, and the status page (asking Stripe) agrees.
    assert outcomes(db, session_id, "checkout.session.completed") == [
        "awaiting_payment: payment_status=unpaid"
    ]
    status = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
    assert status.json()["status"] == "PENDING"
    assert balance(db, student.id) == before
    assert_not_paid(db, session_id)

    stripe_emulator.settle(session_id, "succeeded")
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 1000
    assert_paid_once(db, student.id, session_id, 1000, 8000)
    assert outcomes(db, session_id, "checkout.session.async_payment_succeeded") == ["fulfilled"]


def test_delayed_payment_failure_marks_failed(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    stripe_emulator.pay(session_id, method="bank_transfer")
    stripe_emulator.settle(session_id, "failed")
    settle_webhooks(stripe_emulator)
    assert session_row(db, session_id)["status"] == "FAILED"
    assert outcomes(db, session_id, "checkout.session.async_payment_failed") == ["failed"]
    assert balance(db, student.id) == before
    assert_not_paid(db, session_id)
    status = client.get(f"/api/payments/checkout-status/{session_id}", headers=student.headers)
    assert status.json()["status"] == "FAILED"


@pytest.mark.parametrize(
    "tamper",
    [
        {"amount_total": 1},
        {"currency": "usd"},
        {"client_reference_id": "00000000-0000-0000-0000-000000000000"},
        {"payment_status": "paid", "amount_total": True},
        # metadata that is not an object (Stripe always sends one): a mismatch, not a 500
        {"metadata": "package=starter"},
        {"metadata": ["package_id"]},
        {"metadata": 7},
    ],
)
def test_mismatch_credits_nothing(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
    tamper: dict[str, Any],
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    event = paid_event(stripe_emulator, session_id, **tamper)
    response = post_event(client, event)
    assert response.status_code == 200, response.text
    stored = inbox(db, event["id"])
    assert stored is not None
    assert stored["processed_at"] is not None
    assert stored["outcome"].startswith("mismatch: ")
    assert balance(db, student.id) == before
    assert_not_paid(db, session_id)
    assert session_row(db, session_id)["status"] == "PENDING"


def test_metadata_never_decides_the_credits(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    obj = retrieve_session(stripe_emulator, session_id)
    obj.update(
        status="complete", payment_status="paid", payment_intent=f"pi_metadata_{session_id[-12:]}"
    )
    obj["metadata"]["credits"] = "100000"
    assert post_event(client, make_event("checkout.session.completed", obj)).status_code == 200
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)


def test_unknown_sessions_are_stored_acknowledged_and_processed(
    client: httpx.Client, db: psycopg.Connection, invariants: None
) -> None:
    stranger = make_event(
        "checkout.session.completed",
        {"id": "cs_test_not_ours", "object": "checkout.session", "payment_status": "paid",
         "amount_total": 1000, "currency": "gbp"},
    )  # fmt: skip
    response = post_event(client, stranger)
    assert response.status_code == 200
    assert response.json() == {"received": True}
    stored = inbox(db, stranger["id"])
    assert stored is not None
    assert (stored["outcome"], stored["type"]) == ("unknown_session", stranger["type"])
    assert stored["processed_at"] is not None
    assert stored["payload"] == stranger
    assert payments_for(db, "cs_test_not_ours") == []


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("customer.created", {"id": "cus_x", "object": "customer"}),
        ("payment_intent.created", {"id": "pi_x", "object": "payment_intent", "amount": 1000}),
        ("charge.succeeded", {"id": "ch_x", "object": "charge", "amount": 1000}),
    ],
)
def test_unhandled_types_are_kept_unprocessed_for_a_later_handler(
    client: httpx.Client, db: psycopg.Connection, invariants: None,
    event_type: str, obj: dict[str, Any],
) -> None:  # fmt: skip
    event = make_event(event_type, obj)
    ledger_before = db.execute("SELECT count(*) FROM credit_transactions").fetchone()
    response = post_event(client, event)
    assert response.status_code == 200
    assert response.json() == {"received": True}
    stored = inbox(db, event["id"])
    assert stored is not None
    assert (stored["type"], stored["payload"]) == (event_type, event)
    # Acknowledged and stored, but not processed: a handler added later can replay it.
    assert stored["outcome"] == "unhandled: stored for later"
    assert stored["processed_at"] is None
    replay = db.execute(
        "SELECT id FROM webhook_events WHERE processed_at IS NULL AND type = %s", (event_type,)
    ).fetchall()
    assert (event["id"],) in replay

    # Stripe re-delivers it: answered 200, still unprocessed, nothing else changes (the
    # attempt is counted: an unprocessed event is offered to its handler again).
    again = post_event(client, event)
    assert again.status_code == 200
    assert again.json() == {"received": True}
    after = inbox(db, event["id"])
    assert after is not None
    assert after["attempts"] == stored["attempts"] + 1
    assert {k: v for k, v in after.items() if k != "attempts"} == {
        k: v for k, v in stored.items() if k != "attempts"
    }
    assert db.execute("SELECT count(*) FROM credit_transactions").fetchone() == ledger_before


def test_database_failure_mid_fulfilment_rolls_back_and_retry_credits_once(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages, "value")
    # A real database fault, after the ledger entry has been written in the same transaction.
    db.execute(
        f"""
        CREATE FUNCTION test_fail_payment() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.stripe_checkout_session_id = '{session_id}' THEN
                RAISE EXCEPTION 'injected failure';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_fail_payment BEFORE INSERT ON payments
            FOR EACH ROW EXECUTE FUNCTION test_fail_payment();
        """
    )
    try:
        with webhooks_paused(stripe_emulator, app_url):
            stripe_emulator.pay(session_id)
        (event_id,) = stripe_events(stripe_emulator, session_id, "checkout.session.completed")
        event = stripe_client_event(stripe_emulator, event_id)
        failed = post_event(client, event)
        assert failed.status_code == 500
        assert failed.json()["code"] == "internal_error"
        # Nothing half-written: no ledger entry, no payment, still PENDING; the inbox keeps
        # the event, unprocessed, with why it failed (the admin list shows it; a retry or a
        # replay processes it).
        failure = inbox(db, event_id)
        assert failure is not None
        assert failure["processed_at"] is None
        assert failure["outcome"].startswith("failed: ")
        assert "injected failure" in failure["outcome"]
        assert purchase_entries(db, session_id) == []
        assert_not_paid(db, session_id)
        assert session_row(db, session_id)["status"] == "PENDING"
        assert balance(db, student.id) == before
    finally:
        db.execute("DROP TRIGGER IF EXISTS test_fail_payment ON payments;"
                   "DROP FUNCTION IF EXISTS test_fail_payment();")  # fmt: skip

    stripe_emulator.resend(event_id)  # Stripe's retry
    settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 500
    assert_paid_once(db, student.id, session_id, 500, 4500)
    stored = inbox(db, event_id)
    assert stored is not None
    assert stored["outcome"] == "fulfilled"
    assert stored["processed_at"] is not None
    assert stored["attempts"] >= 2


def stripe_client_event(emulator: EmulatorServer, event_id: str) -> dict[str, Any]:
    from tests.checkout.support import stripe_client

    return stripe_client(emulator).v1.events.retrieve(event_id).to_dict()


def test_emulator_retries_a_failed_delivery_until_it_credits(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    # The first attempts never reach us (dropped) or their answers are lost (timeouts): the
    # emulator retries with back-off, and whatever got through, the student is credited once.
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    with webhook_faults(stripe_emulator, app_url, drop_first=1, timeout_first=2):
        stripe_emulator.pay(session_id)
        settle_webhooks(stripe_emulator)
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)


def test_nul_character_in_a_signed_event_is_stored_and_credited_once(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    # A buyer can type anything into the hosted page; jsonb would refuse "\u0000" and every
    # delivery of the event would fail. The inbox keeps the exact text Stripe signed.
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    name = "Ada\u0000Lovelace"
    event = paid_event(stripe_emulator, session_id, customer_details={"name": name})
    payload = json.dumps(event).encode()
    assert b"\\u0000" in payload
    response = post_event(client, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}
    stored = inbox(db, event["id"])
    assert stored is not None
    assert stored["payload"]["data"]["object"]["customer_details"]["name"] == "Ada\x00Lovelace"
    assert stored["outcome"] == "fulfilled"
    assert post_event(client, payload).status_code == 200  # and its re-delivery
    assert balance(db, student.id) == before + 100
    assert_paid_once(db, student.id, session_id, 100, 1000)


def test_odd_shapes_in_fields_we_do_not_rely_on_are_ignored(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, invariants: None,
) -> None:  # fmt: skip
    before = balance(db, student.id)
    session_id = buy(client, student, packages)
    odd = {"metadata": None, "customer_details": "a string", "payment_intent": ["pi_in_a_list"]}
    event = paid_event(stripe_emulator, session_id, **odd)
    response = post_event(client, event)
    assert response.status_code == 200, response.text
    stored = inbox(db, event["id"])
    assert stored is not None
    assert stored["outcome"] == "fulfilled"
    assert balance(db, student.id) == before + 100
    payment = assert_paid_once(db, student.id, session_id, 100, 1000)
    assert payment["stripe_payment_intent_id"] is None  # not an id: not recorded
