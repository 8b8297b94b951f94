"""Charging a saved card off-session (``POST /v1/payment_intents`` with ``customer``,
``payment_method``, ``off_session=true``, ``confirm=true``) through the official SDK over
HTTP: Stripe's answers for its test cards, its ``card_error`` shape, the events, idempotent
replays, and refunds and disputes on what was charged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from emulator_support import API_KEY, delivered, event_types, listen, types_of
from stripe_emulator.testing import EmulatorServer


def _charge(
    client: stripe.StripeClient,
    customer_id: str | None,
    payment_method: str,
    key: str | None = None,
    **extra: Any,
) -> Any:
    params: dict[str, Any] = {
        "amount": 1000,
        "currency": "gbp",
        "payment_method": payment_method,
        "off_session": True,
        "confirm": True,
        "metadata": {"top_up_attempt": "att-1"},
        **extra,
    }
    if customer_id:
        params["customer"] = customer_id
    options = {"idempotency_key": key} if key else None
    return client.v1.payment_intents.create(params=params, options=options)  # type: ignore[arg-type]


def test_a_saved_visa_is_charged_off_session(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    receiver: Any,
    customer: Any,
    save_card: Callable[..., Any],
) -> None:
    card = save_card(customer.id)
    listen(emulator, receiver)
    pi = _charge(stripe_client, customer.id, card.id, key="top-up-att-1")
    assert (pi.status, pi.amount, pi.amount_received, pi.customer) == (
        "succeeded", 1000, 1000, customer.id
    )  # fmt: skip
    assert (pi.payment_method, pi.last_payment_error) == (card.id, None)
    assert pi.metadata.to_dict() == {"top_up_attempt": "att-1"}
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.paid, charge.amount_captured, charge.payment_intent) == (
        "succeeded", True, 1000, pi.id
    )  # fmt: skip
    assert charge.metadata.to_dict() == {"top_up_attempt": "att-1"}
    assert charge.payment_method_details.card.fingerprint == card.card.fingerprint
    # The card stays saved: it can be charged again.
    assert _charge(stripe_client, customer.id, card.id).status == "succeeded"

    events = delivered(emulator, receiver)
    first = [
        e
        for e in events
        if pi.id in (e.data.object.id, e.data.object.to_dict().get("payment_intent"))
    ]
    assert types_of(first) == [
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded"
    ]  # fmt: skip
    for event in first:  # caused by the API call, whose key they echo
        assert event.request.idempotency_key == "top-up-att-1"
        assert event.request.id is not None
    assert first[-1].data.object.metadata.to_dict() == {"top_up_attempt": "att-1"}


# (how the card gets there, the card, Stripe's code and decline_code)
DECLINES = [
    ("saved", "4000002760003184", "authentication_required", "authentication_required"),
    ("saved", "4000000000000341", "card_declined", "generic_decline"),
    ("saved", "4000008260003178", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedInsufficientFunds", "4000000000009995", "card_declined",
     "insufficient_funds"),
    ("pm_card_chargeDeclined", "4000000000000002", "card_declined", "generic_decline"),
    ("pm_card_chargeDeclinedExpiredCard", "4000000000000069", "expired_card", "expired_card"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "number", "code", "decline_code"), DECLINES)
def test_declines_answer_with_stripes_card_error(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    customer: Any,
    save_card: Callable[..., Any],
    source: str,
    number: str,
    code: str,
    decline_code: str,
) -> None:
    payment_method = save_card(customer.id, number).id if source == "saved" else source
    with pytest.raises(stripe.CardError) as declined:
        _charge(stripe_client, customer.id, payment_method)
    error = declined.value
    assert (error.http_status, error.code, error.error.type) == (402, code, "card_error")
    assert error.error.decline_code == decline_code
    assert error.error.doc_url == "https://stripe.com/docs/error-codes/" + code.replace("_", "-")
    # The intent and the card come back in full, as on Stripe.
    failed_pi = error.error.payment_intent
    assert (failed_pi.object, failed_pi.status) == ("payment_intent", "requires_payment_method")
    assert (error.error.payment_method.object, error.error.payment_method.card.last4) == (
        "payment_method", number[-4:]
    )  # fmt: skip

    pi = stripe_client.v1.payment_intents.retrieve(failed_pi.id)
    assert (pi.status, pi.payment_method, pi.amount_received) == (
        "requires_payment_method",
        None,
        0,
    )
    last = pi.last_payment_error
    assert (last.type, last.code, last.decline_code, last.charge) == (
        "card_error", code, decline_code, pi.latest_charge
    )  # fmt: skip
    assert last.payment_method.card.last4 == number[-4:]
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.paid, charge.failure_code) == ("failed", False, code)
    assert (charge.outcome.type, charge.outcome.reason) == ("issuer_declined", decline_code)
    assert event_types(emulator, "payment_intent", "charge") == [
        "payment_intent.created", "charge.failed", "payment_intent.payment_failed"
    ]  # fmt: skip
    # Nothing was captured, so there is nothing to refund.
    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge"):
        stripe_client.v1.refunds.create(params={"payment_intent": pi.id})


def test_authentication_required_is_delivered_as_a_signed_payment_failed(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    receiver: Any,
    customer: Any,
    save_card: Callable[..., Any],
) -> None:
    card = save_card(customer.id, "4000002760003184")
    listen(emulator, receiver)
    with pytest.raises(stripe.CardError):
        _charge(stripe_client, customer.id, card.id, key="attempt-42")
    events = delivered(emulator, receiver)  # each verified with the endpoint's secret
    failed = next(e for e in events if e.type == "payment_intent.payment_failed")
    assert failed.data.object.metadata["top_up_attempt"] == "att-1"
    assert failed.data.object.last_payment_error.code == "authentication_required"
    assert failed.request.idempotency_key == "attempt-42"
    charge_failed = next(e for e in events if e.type == "charge.failed")
    assert charge_failed.data.object.failure_code == "authentication_required"
    # Still saved: the customer can come back and pay on-session.
    assert stripe_client.v1.payment_methods.retrieve(card.id).customer == customer.id


def test_a_replayed_idempotency_key_answers_the_first_result_and_charges_once(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    customer: Any,
    save_card: Callable[..., Any],
) -> None:
    card = save_card(customer.id)
    first = _charge(stripe_client, customer.id, card.id, key="attempt-7")
    again = _charge(stripe_client, customer.id, card.id, key="attempt-7")
    assert again.id == first.id
    assert again.latest_charge == first.latest_charge
    assert len(stripe_client.v1.payment_intents.list().data) == 1
    assert len(stripe_client.v1.charges.list().data) == 1

    # A decline is replayed too (the card error is the answer), not retried.
    failing = save_card(customer.id, "4000000000000341")
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            _charge(stripe_client, customer.id, failing.id, key="attempt-8")
        errors.append(declined.value)
    assert errors[0].error.payment_intent.id == errors[1].error.payment_intent.id
    assert len(stripe_client.v1.charges.list().data) == 2  # one success, one failure

    # Over plain HTTP the replay says so; other parameters under the key are refused.
    body = {"amount": "1000", "currency": "gbp", "customer": customer.id,
            "payment_method": card.id, "off_session": "true", "confirm": "true",
            "metadata[top_up_attempt]": "att-1"}  # fmt: skip
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "attempt-7"}
    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        replay = http.post("/v1/payment_intents", data=body)
        assert (replay.status_code, replay.headers["idempotent-replayed"]) == (200, "true")
        assert replay.json()["id"] == first.id
        other = http.post("/v1/payment_intents", data={**body, "amount": "2000"})
    assert (other.status_code, other.json()["error"]["type"]) == (400, "idempotency_error")
    assert len(stripe_client.v1.payment_intents.list().data) == 2


def test_an_off_session_charge_is_refunded_and_disputed_like_a_checkout_payment(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    customer: Any,
    save_card: Callable[..., Any],
) -> None:
    card = save_card(customer.id)
    refunded = _charge(stripe_client, customer.id, card.id)
    refund = stripe_client.v1.refunds.create(params={"payment_intent": refunded.id, "amount": 400})
    assert (refund.status, refund.amount, refund.charge) == (
        "succeeded",
        400,
        refunded.latest_charge,
    )
    assert stripe_client.v1.charges.retrieve(refunded.latest_charge).amount_refunded == 400

    disputed = _charge(stripe_client, customer.id, card.id)
    dispute = emulator.dispute(payment_intent=disputed.id)
    assert (dispute["charge"], dispute["status"]) == (disputed.latest_charge, "needs_response")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.refunds.create(params={"payment_intent": disputed.id})
    assert refused.value.code == "charge_disputed"
    assert event_types(emulator, "charge.refunded", "charge.dispute.created") == [
        "charge.refunded", "charge.dispute.created"
    ]  # fmt: skip


def test_an_on_session_confirmation_of_a_3ds_card_waits_for_an_action(
    stripe_client: stripe.StripeClient, customer: Any, save_card: Callable[..., Any]
) -> None:
    card = save_card(customer.id, "4000002760003184")
    created = stripe_client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "gbp", "customer": customer.id,
                "payment_method": card.id}
    )  # fmt: skip
    assert created.status == "requires_confirmation"
    waiting = stripe_client.v1.payment_intents.confirm(created.id)
    assert (waiting.status, waiting.next_action.type) == ("requires_action", "use_stripe_sdk")
    canceled = stripe_client.v1.payment_intents.cancel(
        created.id, params={"cancellation_reason": "abandoned"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.payment_intents.confirm(created.id)
    assert again.value.code == "payment_intent_unexpected_state"

    # error_on_requires_action: the same card fails at once instead.
    with pytest.raises(stripe.CardError) as failed:
        stripe_client.v1.payment_intents.create(
            params={"amount": 1500, "currency": "gbp", "customer": customer.id,
                    "payment_method": card.id, "confirm": True, "error_on_requires_action": True}
        )  # fmt: skip
    assert failed.value.code == "authentication_required"


@pytest.mark.parametrize(
    ("number", "outcome", "status", "answer"),
    [
        ("4000002760003184", "complete", "succeeded", 200),
        ("4000002760003184", "fail", "requires_payment_method", 400),
        ("4000008260003178", "complete", "requires_payment_method", 402),
    ],
)
def test_the_payer_answers_the_3ds_challenge_on_its_page(
    stripe_client: stripe.StripeClient,
    customer: Any,
    save_card: Callable[..., Any],
    number: str,
    outcome: str,
    status: str,
    answer: int,
) -> None:
    card = save_card(customer.id, number)
    waiting = stripe_client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "gbp", "customer": customer.id,
                "payment_method": card.id, "confirm": True}
    )  # fmt: skip
    assert waiting.status == "requires_action"
    page_url = waiting.next_action.use_stripe_sdk.stripe_js
    with httpx.Client() as browser:
        page = browser.get(page_url)
        assert (page.status_code, "£15.00" in page.text) == (200, True)
        answered = browser.post(page_url, data={"outcome": outcome})
        assert answered.status_code == answer
        assert browser.get(page_url).status_code == 404  # nothing waits any more
    pi = stripe_client.v1.payment_intents.retrieve(waiting.id)
    assert pi.status == status
    charges = stripe_client.v1.charges.list(params={"payment_intent": pi.id}).data
    if outcome == "fail":  # no authorisation was asked for: no charge
        assert pi.last_payment_error.code == "payment_intent_authentication_failure"
        assert charges == []
    elif status == "succeeded":
        assert charges[0].payment_method_details.card.three_d_secure.result == "authenticated"
    else:  # authenticated, then declined by the bank
        assert pi.last_payment_error.decline_code == "insufficient_funds"
        assert charges[0].status == "failed"


def test_an_intent_confirmed_later_off_session_succeeds(
    stripe_client: stripe.StripeClient, customer: Any, save_card: Callable[..., Any]
) -> None:
    card = save_card(customer.id)
    created = stripe_client.v1.payment_intents.create(
        params={"amount": 700, "currency": "gbp", "customer": customer.id}
    )
    assert (created.status, created.payment_method) == ("requires_payment_method", None)
    with pytest.raises(stripe.InvalidRequestError, match="missing a payment method"):
        stripe_client.v1.payment_intents.confirm(created.id)
    paid = stripe_client.v1.payment_intents.confirm(
        created.id, params={"payment_method": card.id, "off_session": True}
    )
    assert (paid.status, paid.amount_received) == ("succeeded", 700)
    with pytest.raises(stripe.InvalidRequestError) as canceling:
        stripe_client.v1.payment_intents.cancel(created.id)
    assert canceling.value.code == "payment_intent_unexpected_state"


def test_a_payment_method_that_is_not_the_customers_is_refused(
    stripe_client: stripe.StripeClient, customer: Any, save_card: Callable[..., Any]
) -> None:
    card = save_card(customer.id)
    other = stripe_client.v1.customers.create(params={"email": "other@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        _charge(stripe_client, other.id, card.id)
    assert (foreign.value.http_status, foreign.value.param) == (400, "payment_method")
    with pytest.raises(stripe.InvalidRequestError) as no_customer:
        _charge(stripe_client, None, card.id)
    assert no_customer.value.param == "customer"
    # An unattached card (a test PaymentMethod) is good for one payment only.
    once = _charge(stripe_client, None, "pm_card_visa")
    assert once.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        _charge(stripe_client, None, once.payment_method)
    assert len(stripe_client.v1.payment_intents.list().data) == 1


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"amount": None}, "amount", "parameter_missing"),
        ({"currency": None}, "currency", "parameter_missing"),
        ({"amount": 10}, "amount", "amount_too_small"),
        ({"payment_method": "pm_nope"}, "payment_method", "resource_missing"),
        ({"customer": "cus_nope"}, "customer", "resource_missing"),
        ({"confirm": False}, "off_session", "parameter_invalid"),
        ({"capture_method": "manual"}, "capture_method", "parameter_invalid"),
        ({"transfer_data": {"destination": "acct_1"}}, "transfer_data", "parameter_invalid"),
        ({"surprise": "x"}, "surprise", "parameter_unknown"),
    ],
)
def test_bad_payment_intents_are_refused_and_nothing_is_created(
    stripe_client: stripe.StripeClient,
    customer: Any,
    save_card: Callable[..., Any],
    change: dict[str, Any],
    param: str,
    code: str,
) -> None:
    card = save_card(customer.id)
    params: dict[str, Any] = {
        "amount": 1000,
        "currency": "gbp",
        "customer": customer.id,
        "payment_method": card.id,
        "off_session": True,
        "confirm": True,
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.payment_intents.create(params=params)
    assert (refused.value.http_status, refused.value.param, refused.value.code) == (
        400,
        param,
        code,
    )
    assert stripe_client.v1.payment_intents.list().data == []
