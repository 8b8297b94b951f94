"""Disputes as Stripe runs them: card 4000 0000 0000 0259 is disputed by itself, the
merchant answers through the API (evidence, accept), the bank decides (control API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe

from emulator_support import (
    DISPUTED_CARD,
    delivered,
    event_types,
    listen,
    raw,
    types_of,
)
from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import EmulatorServer


def _disputed(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> Any:
    """Pay £10.00 with the card that is always disputed; returns the dispute."""
    session = make_session()
    emulator.pay(session.id, card=DISPUTED_CARD)
    pi_id = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    (dispute,) = stripe_client.v1.disputes.list(params={"payment_intent": pi_id}).data
    return dispute


def test_card_0259_pays_then_is_disputed_as_fraudulent_by_itself(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    path = listen(emulator, receiver)
    session = make_session()
    paid = emulator.pay(session.id, card=DISPUTED_CARD)
    assert (paid["status"], paid["payment_status"]) == ("complete", "paid")

    events = delivered(emulator, receiver, path)
    assert types_of(events) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    created, withdrawn = events[-2:]
    dispute = stripe_client.v1.disputes.retrieve(created.data.object.id)
    assert (dispute.status, dispute.reason) == ("needs_response", "fraudulent")
    assert dispute.amount == 1000
    assert "intended_submission_method" in raw(dispute)
    assert dispute.intended_submission_method is None
    assert created.data.object.balance_transactions == []
    (withdrawal,) = withdrawn.data.object.balance_transactions
    assert (withdrawal.amount, withdrawal.fee) == (-1000, 2000)
    charge = stripe_client.v1.charges.retrieve(dispute.charge)
    assert charge.disputed is True
    assert charge.payment_intent == paid["payment_intent"]

    # A charge under an open dispute cannot be refunded, as on Stripe.
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"charge": charge.id})
    assert info.value.code == "charge_disputed"
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 0


def test_won_dispute_reinstates_the_funds_then_closes(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    path = listen(emulator, receiver)
    won = emulator.close_dispute(dispute.id, "won")
    assert won["status"] == "won"

    events = delivered(emulator, receiver, path)
    assert types_of(events) == ["charge.dispute.funds_reinstated", "charge.dispute.closed"]
    assert [t.amount for t in events[0].data.object.balance_transactions] == [-1000, 1000]
    assert events[1].data.previous_attributes["status"] == "needs_response"
    assert stripe_client.v1.disputes.retrieve(dispute.id).status == "won"

    # Won: the charge is the merchant's again, and may be refunded.
    refund = stripe_client.v1.refunds.create(params={"charge": dispute.charge, "amount": 100})
    assert refund.status == "succeeded"
    with pytest.raises(EmulatorError, match="already closed"):
        emulator.close_dispute(dispute.id, "lost")


def test_lost_dispute_only_closes_and_keeps_refunds_refused(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    assert emulator.close_dispute(dispute.id, "lost")["status"] == "lost"
    assert event_types(emulator, "charge.dispute.") == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"charge": dispute.charge})
    assert info.value.code == "charge_disputed"
    with pytest.raises(EmulatorError) as bad:
        emulator.close_dispute(dispute.id, "maybe")
    assert bad.value.error["param"] == "outcome"


def test_evidence_is_staged_then_submitted_through_the_api(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    path = listen(emulator, receiver)
    staged = stripe_client.v1.disputes.update(
        dispute.id,
        params={
            "evidence": {"uncategorized_text": "Credits were used.", "customer_name": "A Student"},
            "intended_submission_method": "manual",
            "submit": False,
        },
        options={"idempotency_key": "evidence-1"},
    )
    assert staged.status == "needs_response"
    assert staged.evidence.uncategorized_text == "Credits were used."
    assert staged.intended_submission_method == "manual"
    assert (staged.evidence_details.has_evidence, staged.evidence_details.submission_count) == (
        True,
        0,
    )

    # ``submit`` defaults to true on this API version.
    submitted = stripe_client.v1.disputes.update(
        dispute.id, params={"evidence": {"receipt": "file_receipt"}}
    )
    assert (submitted.status, submitted.evidence_details.submission_count) == ("under_review", 1)
    assert submitted.evidence.customer_name == "A Student"  # earlier evidence kept

    events = delivered(emulator, receiver, path)
    assert types_of(events) == ["charge.dispute.updated", "charge.dispute.updated"]
    first, second = events
    assert first.request.idempotency_key == "evidence-1"
    assert first.data.previous_attributes["evidence"].to_dict() == {
        "uncategorized_text": None,
        "customer_name": None,
    }
    assert "status" not in first.data.previous_attributes
    assert second.data.previous_attributes["status"] == "needs_response"
    assert second.data.object.status == "under_review"

    with pytest.raises(stripe.InvalidRequestError, match="under review"):
        stripe_client.v1.disputes.update(dispute.id, params={"evidence": {"receipt": "x"}})
    with pytest.raises(stripe.InvalidRequestError, match="under review"):
        stripe_client.v1.disputes.close(dispute.id)
    # The bank still decides a dispute under review.
    assert emulator.close_dispute(dispute.id, "won")["status"] == "won"


def test_bad_evidence_changes_nothing(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    cases = [
        ({"evidence": {"favourite_colour": "blue"}}, "evidence[favourite_colour]"),
        ({"intended_submission_method": "carrier_pigeon"}, "intended_submission_method"),
        ({"amount": 5}, "amount"),
        # Good evidence with a bad method: neither is applied.
        (
            {"evidence": {"receipt": "file_1"}, "intended_submission_method": "fax"},
            "intended_submission_method",
        ),
        ({"evidence": {"receipt": "file_1"}, "metadata": "not a hash"}, "metadata"),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.disputes.update(dispute.id, params=params)
        assert info.value.param == param
    after = stripe_client.v1.disputes.retrieve(dispute.id)
    assert (after.status, after.evidence_details.has_evidence) == ("needs_response", False)
    assert after.evidence.receipt is None
    assert after.intended_submission_method is None
    assert event_types(emulator, "charge.dispute.updated") == []
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.disputes.update("du_missing", params={"submit": True})
    assert missing.value.http_status == 404


def test_merchant_accepts_the_dispute_through_the_api(
    emulator: EmulatorServer,
    receiver: Any,
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    path = listen(emulator, receiver)
    closed = stripe_client.v1.disputes.close(dispute.id)
    assert closed.status == "lost"

    (event,) = delivered(emulator, receiver, path)
    assert event.type == "charge.dispute.closed"
    assert event.request.id is not None  # caused by the merchant's API call
    assert event.data.previous_attributes["status"] == "needs_response"
    with pytest.raises(stripe.InvalidRequestError, match="lost"):
        stripe_client.v1.disputes.close(dispute.id)
    with pytest.raises(EmulatorError, match="already closed"):
        emulator.close_dispute(dispute.id, "won")


def test_control_api_submits_evidence(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, make_session: Callable[..., Any]
) -> None:
    dispute = _disputed(emulator, stripe_client, make_session)
    submitted = emulator.submit_dispute_evidence(
        dispute.id, evidence={"product_description": "1000 credits"}
    )
    assert submitted["status"] == "under_review"
    assert submitted["evidence"]["product_description"] == "1000 credits"
    assert event_types(emulator, "charge.dispute.updated") == ["charge.dispute.updated"]
    with pytest.raises(EmulatorError) as again:
        emulator.submit_dispute_evidence(dispute.id)
    assert again.value.status_code == 400


def test_dispute_on_a_partially_refunded_charge_covers_at_most_what_remains(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient, paid_session: Any
) -> None:
    pi_id = paid_session.payment_intent
    stripe_client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 300})
    with pytest.raises(EmulatorError) as info:
        emulator.dispute(payment_intent=pi_id, amount=800)
    assert (info.value.status_code, info.value.error["param"]) == (400, "amount")
    assert "(700)" in info.value.error["message"]
    assert stripe_client.v1.charges.list(params={"payment_intent": pi_id}).data[0].disputed is False

    dispute = emulator.dispute(payment_intent=pi_id)
    assert dispute["amount"] == 700
    (withdrawal,) = dispute["balance_transactions"]
    assert withdrawal["amount"] == -700
