"""Refunds as Stripe runs them: at once (cards), pending then settled (bank debits),
succeeded then failed (card 4000 0000 0000 5126), with every event delivered signed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from emulator_support import (
    REFUND_FAILS_CARD,
    delivered,
    event_types,
    listen,
    raw,
    types_of,
)
from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import EmulatorServer, start_emulator

MONEY_BACK = ("refund.", "charge.refund.")


def _paid(
    emulator: EmulatorServer,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
    card: str = "4242424242424242",
) -> Any:
    """A paid £10.00 session's charge."""
    session = make_session()
    emulator.pay(session.id, card=card)
    pi = stripe_client.v1.payment_intents.retrieve(
        stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    return stripe_client.v1.charges.retrieve(pi.latest_charge)


def _bank_paid(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> Any:
    """A £10.00 Bacs debit, settled."""
    session = make_session()
    emulator.pay(session.id, method="bank_transfer")
    emulator.settle(session.id, "succeeded")
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    return stripe_client.v1.charges.retrieve(
        stripe_client.v1.payment_intents.retrieve(pi_id).latest_charge
    )


def test_card_refund_succeeds_at_once_with_refund_created_and_charge_refunded(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    charge = _paid(emulator, stripe_client, make_session)
    path = listen(emulator, receiver)
    refund = stripe_client.v1.refunds.create(
        params={"charge": charge.id, "amount": 400}, options={"idempotency_key": "card-1"}
    )
    assert (refund.status, refund.amount) == ("succeeded", 400)
    assert not {"pending_reason", "failure_reason", "failure_balance_transaction"} & set(
        raw(refund)
    )

    events = delivered(emulator, receiver, path)
    assert types_of(events) == ["refund.created", "charge.refunded"]
    created, refunded = events
    assert created.data.object.id == refund.id
    assert created.request.idempotency_key == "card-1"
    snapshot = refunded.data.object
    assert (snapshot.id, snapshot.amount_refunded, snapshot.refunded) == (charge.id, 400, False)
    assert [(r.id, r.status) for r in snapshot.refunds.data] == [(refund.id, "succeeded")]
    assert refunded.data.previous_attributes["amount_refunded"] == 0

    # Nothing is left to happen to a plain card refund, however much time passes.
    assert emulator.advance_clock(24 * 3600)["refunds"] == 0
    assert event_types(emulator, *MONEY_BACK) == ["refund.created"]
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "succeeded"


def test_bank_debit_refund_is_pending_until_the_clock_passes_the_delay(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    charge = _bank_paid(emulator, stripe_client, make_session)
    assert charge.payment_method_details.type == "bacs_debit"
    path = listen(emulator, receiver)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert (refund.status, refund.pending_reason, refund.amount) == ("pending", "processing", 1000)
    # A pending refund already counts as refunded on the charge, as on Stripe.
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert charge.refunds.data[0].status == "pending"

    # Object time is wall time plus the offset: leave the wall clock (a loaded machine)
    # 30 s of slack before the 60 s delay, then pass it.
    emulator.advance_clock(30)
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "pending"
    assert emulator.advance_clock(31)["refunds"] == 1

    settled = stripe_client.v1.refunds.retrieve(refund.id)
    assert settled.status == "succeeded"
    assert "pending_reason" not in raw(settled)
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert [(r.id, r.status) for r in charge.refunds.data] == [(refund.id, "succeeded")]
    assert (charge.amount_refunded, charge.refunded) == (1000, True)

    events = delivered(emulator, receiver, path)
    assert types_of(events) == [
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "charge.refund.updated",
    ]
    assert events[0].data.object.status == "pending"
    for update in events[2:]:
        assert update.data.object.object == "refund"
        assert update.data.object.status == "succeeded"
        assert update.data.previous_attributes["status"] == "pending"
        assert update.request.id is None  # the bank, not an API call


def test_pending_refund_succeeds_at_once_through_the_control_api(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    charge = _bank_paid(emulator, stripe_client, make_session)
    refund = emulator.refund(charge=charge.id, amount=250, reason="requested_by_customer")
    assert (refund["status"], refund["reason"]) == ("pending", "requested_by_customer")
    assert emulator.succeed_refund(refund["id"])["status"] == "succeeded"
    with pytest.raises(EmulatorError) as info:
        emulator.succeed_refund(refund["id"])
    assert info.value.status_code == 400
    assert "only a pending refund can succeed" in info.value.error["message"]

    # The delay that no longer applies changes nothing later.
    assert emulator.advance_clock(3600)["refunds"] == 0
    assert event_types(emulator, *MONEY_BACK) == [
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
    ]
    embedded = stripe_client.v1.charges.retrieve(charge.id).refunds.data
    assert [(r.id, r.status) for r in embedded] == [(refund["id"], "succeeded")]


def test_card_5126_refund_succeeds_then_fails_when_the_clock_passes_the_delay(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    charge = _paid(emulator, stripe_client, make_session, card=REFUND_FAILS_CARD)
    assert charge.payment_method_details.card.last4 == "5126"
    path = listen(emulator, receiver)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert refund.status == "succeeded"
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 1000

    emulator.advance_clock(30)  # 30 s of wall-clock slack, as above
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "succeeded"
    emulator.advance_clock(31)

    failed = stripe_client.v1.refunds.retrieve(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert failed.failure_balance_transaction.startswith("txn_")
    assert failed.failure_balance_transaction != failed.balance_transaction
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert [(r.id, r.status) for r in charge.refunds.data] == [(refund.id, "failed")]
    assert charge.refunds.data[0].failure_reason == "expired_or_canceled_card"

    events = delivered(emulator, receiver, path)
    assert types_of(events) == [
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
    ]
    update = events[2]
    assert update.data.previous_attributes["status"] == "succeeded"
    for event in events[2:]:
        assert (event.data.object.id, event.data.object.status) == (refund.id, "failed")

    # The money never left, so the charge can be refunded again.
    again = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 100
    assert again.status == "succeeded"


def test_card_5126_refund_fails_at_once_through_the_control_api_and_only_once(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    charge = _paid(emulator, stripe_client, make_session, card=REFUND_FAILS_CARD)
    first = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 300})
    second = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 200})

    failed = emulator.fail_refund(first.id)
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert charge.amount_refunded == 200
    assert {r.id: r.status for r in charge.refunds.data} == {
        first.id: "failed",
        second.id: "succeeded",
    }
    with pytest.raises(EmulatorError, match="has already failed"):
        emulator.fail_refund(first.id)

    # The second refund's own delay still runs; the first fails no second time.
    assert emulator.advance_clock(61)["refunds"] == 1
    assert event_types(emulator, "refund.failed") == ["refund.failed", "refund.failed"]
    failures = stripe_client.v1.events.list(params={"type": "refund.failed"}).data
    assert sorted(e.data.object.id for e in failures) == sorted([first.id, second.id])
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert {r.status for r in charge.refunds.data} == {"failed"}


def test_any_refund_can_be_failed_with_a_reason_and_bad_reasons_are_refused(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    charge = _paid(emulator, stripe_client, make_session)
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id})
    with pytest.raises(EmulatorError) as info:
        emulator.fail_refund(refund.id, failure_reason="bored")
    assert (info.value.status_code, info.value.error["param"]) == (400, "failure_reason")
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "succeeded"

    failed = emulator.fail_refund(refund.id, failure_reason="lost_or_stolen_card")
    assert failed["failure_reason"] == "lost_or_stolen_card"
    assert stripe_client.v1.charges.retrieve(charge.id).refunded is False

    bank = _bank_paid(emulator, stripe_client, make_session)
    pending = emulator.refund(charge=bank.id)
    assert emulator.fail_refund(pending["id"])["failure_reason"] == "declined"
    assert stripe_client.v1.charges.retrieve(bank.id).amount_refunded == 0

    with pytest.raises(EmulatorError) as missing:
        emulator.fail_refund("re_missing")
    assert (missing.value.status_code, missing.value.code) == (404, "resource_missing")


def test_the_background_sweep_settles_and_fails_refunds_without_anyone_asking(
    session_params: Callable[..., dict[str, Any]],
) -> None:
    # A delay of 1 s and a fast sweep, no clock moves and no reads of refunds or
    # charges (listing events does not run due refunds): only the sweep can act.
    with start_emulator(port=0, refund_delay=1, expiry_sweep_interval=0.05) as fast:
        client = stripe.StripeClient(
            "sk_test_sweep", base_addresses={"api": fast.url}, max_network_retries=0
        )
        session = client.v1.checkout.sessions.create(params=session_params())
        fast.pay(session.id, card=REFUND_FAILS_CARD)
        pi_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
        refund = fast.refund(payment_intent=pi_id)
        deadline = time.monotonic() + 10
        failures: list[Any] = []
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
            failures = client.v1.events.list(params={"type": "refund.failed"}).data
        assert [e.data.object.id for e in failures] == [refund["id"]]
