"""Saving cards: Checkout in setup mode, ``setup_future_usage`` on a paid session, a
customer's PaymentMethods (list, retrieve, attach, detach) and their events, through the
official SDK over HTTP and the hosted page as a browser posts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe

from emulator_support import delivered, listen, types_of
from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import EmulatorServer

SUCCESS = "https://app.example/saved?session_id={CHECKOUT_SESSION_ID}"


def _setup_session(client: stripe.StripeClient, customer_id: str | None, **extra: Any) -> Any:
    params = {"mode": "setup", "currency": "gbp", "success_url": SUCCESS, **extra}
    if customer_id:
        params["customer"] = customer_id
    return client.v1.checkout.sessions.create(params=params)


def _cards(client: stripe.StripeClient, customer_id: str) -> list[Any]:
    return client.v1.payment_methods.list(params={"customer": customer_id, "type": "card"}).data


def test_a_setup_session_saves_the_card_typed_on_the_page_to_the_customer(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, receiver: Any, customer: Any
) -> None:
    listen(emulator, receiver)
    session = _setup_session(
        stripe_client, customer.id, setup_intent_data={"metadata": {"student": "s-1"}}
    )
    # Setup mode: nothing to pay, the SetupIntent exists from the start.
    assert (session.mode, session.status, session.payment_status) == (
        "setup", "open", "no_payment_required"
    )  # fmt: skip
    assert (session.amount_total, session.amount_subtotal, session.total_details) == (None,) * 3
    assert session.payment_intent is None
    assert session.setup_intent.startswith("seti_")
    before = stripe_client.v1.setup_intents.retrieve(session.setup_intent)
    assert (before.status, before.customer, before.usage) == (
        "requires_payment_method", customer.id, "off_session"
    )  # fmt: skip
    assert before.metadata.to_dict() == {"student": "s-1"}

    with httpx.Client() as browser:
        page = browser.get(session.url)
        assert "Save a card" in page.text
        assert "will not\nbe charged" in page.text
        assert "4000 0000 0000 0341" in page.text  # the page lists the test cards
        response = browser.post(
            session.url,
            data={"payment_method": "card", "card_number": "4242 4242 4242 4242",
                  "card_expiry": "08 / 31"},
        )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}", session.id)

    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    setup_intent = stripe_client.v1.setup_intents.retrieve(done.setup_intent)
    assert setup_intent.status == "succeeded"
    assert setup_intent.latest_attempt.startswith("setatt_")
    (card,) = _cards(stripe_client, customer.id)
    assert card.id == setup_intent.payment_method
    assert (card.customer, card.type, card.card.brand, card.card.last4) == (
        customer.id, "card", "visa", "4242"
    )  # fmt: skip
    assert (card.card.exp_month, card.card.exp_year) == (8, 2031)
    assert card.billing_details.email == "saver@example.com"

    events = delivered(emulator, receiver)
    assert types_of(events, "setup_intent", "payment_method", "checkout") == [
        "setup_intent.created",
        "payment_method.attached",
        "setup_intent.succeeded",
        "checkout.session.completed",
    ]
    completed = events[-1].data.object
    assert (completed.mode, completed.setup_intent) == ("setup", setup_intent.id)
    attached = next(e for e in events if e.type == "payment_method.attached")
    assert attached.data.object.customer == customer.id
    # Saved by the payer on the page: no API request behind it.
    assert attached.request.id is None
    assert events[0].request.id is not None  # the session's creation


def test_a_declined_card_is_not_saved_and_0341_is(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, customer: Any
) -> None:
    session = _setup_session(stripe_client, customer.id)
    with pytest.raises(EmulatorError) as declined:
        emulator.pay(session.id, card="4000000000009995")
    assert declined.value.status_code == 402
    assert declined.value.error["decline_code"] == "insufficient_funds"
    assert declined.value.error["setup_intent"]["id"] == session.setup_intent

    setup_intent = stripe_client.v1.setup_intents.retrieve(session.setup_intent)
    assert setup_intent.status == "requires_payment_method"
    assert (setup_intent.last_setup_error.code, setup_intent.last_setup_error.decline_code) == (
        "card_declined", "insufficient_funds"
    )  # fmt: skip
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert _cards(stripe_client, customer.id) == []

    # The card Stripe provides for "saves, then every charge fails" is saved.
    emulator.pay(session.id, card="4000000000000341")
    (card,) = _cards(stripe_client, customer.id)
    assert card.card.last4 == "0341"
    assert stripe_client.v1.setup_intents.retrieve(session.setup_intent).last_setup_error is None


def test_a_fingerprint_names_the_card_number_not_the_payment_method(
    customer: Any, save_card: Callable[..., Any]
) -> None:
    first = save_card(customer.id, "4242424242424242")
    again = save_card(customer.id, "4242424242424242")
    other = save_card(customer.id, "5555555555554444")
    assert first.id != again.id
    assert first.card.fingerprint == again.card.fingerprint
    assert other.card.fingerprint != first.card.fingerprint
    assert (other.card.brand, other.card.networks.available) == ("mastercard", ["mastercard"])


def test_setup_future_usage_attaches_the_paid_card_and_without_it_nothing_is_saved(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    customer: Any,
    make_session: Callable[..., Any],
) -> None:
    plain = make_session(customer=customer.id)
    emulator.pay(plain.id)
    assert _cards(stripe_client, customer.id) == []
    paid_pi = stripe_client.v1.payment_intents.retrieve(
        stripe_client.v1.checkout.sessions.retrieve(plain.id).payment_intent
    )
    assert stripe_client.v1.payment_methods.retrieve(paid_pi.payment_method).customer is None

    saving = make_session(
        customer=customer.id, payment_intent_data={"setup_future_usage": "off_session"}
    )
    with httpx.Client() as browser:
        assert "will be saved for future payments" in browser.get(saving.url).text
    emulator.pay(saving.id, card="4000002760003184")  # the page completes 3D Secure
    session = stripe_client.v1.checkout.sessions.retrieve(saving.id)
    assert session.payment_status == "paid"
    pi = stripe_client.v1.payment_intents.retrieve(session.payment_intent)
    assert (pi.status, pi.setup_future_usage) == ("succeeded", "off_session")
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"
    (card,) = _cards(stripe_client, customer.id)
    assert (card.id, card.card.last4) == (pi.payment_method, "3184")


def test_detaching_a_card_removes_it_for_good(
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
    receiver: Any,
    customer: Any,
    save_card: Callable[..., Any],
) -> None:
    card = save_card(customer.id)
    listen(emulator, receiver)
    detached = stripe_client.v1.payment_methods.detach(card.id)
    assert detached.customer is None
    assert _cards(stripe_client, customer.id) == []

    (event,) = [e for e in delivered(emulator, receiver) if e.type == "payment_method.detached"]
    assert event.data.object.id == card.id
    assert event.data.object.customer is None
    assert event.data.previous_attributes.to_dict() == {"customer": customer.id}
    assert event.request.id is not None

    with pytest.raises(stripe.InvalidRequestError, match="not attached to a customer"):
        stripe_client.v1.payment_methods.detach(card.id)
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        stripe_client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "gbp", "customer": customer.id,
                    "payment_method": card.id, "off_session": True, "confirm": True}
        )  # fmt: skip
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        stripe_client.v1.payment_methods.attach(card.id, params={"customer": customer.id})
    assert stripe_client.v1.payment_intents.list().data == []  # nothing was charged


def test_stripe_test_payment_methods_attach_as_on_stripe(
    stripe_client: stripe.StripeClient, customer: Any
) -> None:
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    again = stripe_client.v1.payment_methods.attach(
        "pm_card_visa", params={"customer": customer.id}
    )
    assert visa.id != again.id
    assert visa.card.fingerprint == again.card.fingerprint
    failing = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    assert failing.card.last4 == "0341"
    # Declined test cards can never be attached.
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_methods.attach(
            "pm_card_chargeDeclined", params={"customer": customer.id}
        )
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    assert declined.value.error.decline_code == "generic_decline"
    assert {c.id for c in _cards(stripe_client, customer.id)} == {visa.id, again.id, failing.id}

    # Attaching again to the same customer changes nothing; to another is refused.
    same = stripe_client.v1.payment_methods.attach(visa.id, params={"customer": customer.id})
    assert same.customer == customer.id
    other = stripe_client.v1.customers.create(params={"email": "other@example.com"})
    with pytest.raises(stripe.InvalidRequestError, match="already been attached"):
        stripe_client.v1.payment_methods.attach(visa.id, params={"customer": other.id})


def test_a_customer_sees_only_their_own_cards(
    stripe_client: stripe.StripeClient, customer: Any, save_card: Callable[..., Any]
) -> None:
    mine = save_card(customer.id)
    other = stripe_client.v1.customers.create(params={"email": "other@example.com"})
    theirs = save_card(other.id, "5555555555554444")

    listed = stripe_client.v1.customers.payment_methods.list(customer.id, params={"type": "card"})
    assert [pm.id for pm in listed.data] == [mine.id]
    assert listed.url == f"/v1/customers/{customer.id}/payment_methods"
    got = stripe_client.v1.customers.payment_methods.retrieve(customer.id, mine.id)
    assert got.id == mine.id
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.payment_methods.retrieve(customer.id, theirs.id)
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod: 'pm_nope'"):
        stripe_client.v1.payment_methods.retrieve("pm_nope")
    expanded = stripe_client.v1.payment_methods.retrieve(mine.id, params={"expand": ["customer"]})
    assert expanded.customer.email == "saver@example.com"


def test_metadata_of_a_saved_card_can_be_updated(
    stripe_client: stripe.StripeClient, customer: Any, save_card: Callable[..., Any]
) -> None:
    card = save_card(customer.id)
    updated = stripe_client.v1.payment_methods.update(card.id, params={"metadata": {"k": "v"}})
    assert updated.metadata.to_dict() == {"k": "v"}
    unattached = stripe_client.v1.payment_intents.create(
        params={"amount": 500, "currency": "gbp", "payment_method": "pm_card_visa"}
    )
    with pytest.raises(stripe.InvalidRequestError, match="save this PaymentMethod to a customer"):
        stripe_client.v1.payment_methods.update(
            unattached.payment_method, params={"metadata": {"k": "v"}}
        )


@pytest.mark.parametrize(
    ("params", "param", "fragment"),
    [
        ({"line_items": [{"quantity": 1, "price_data": {"currency": "gbp", "unit_amount": 100,
                          "product_data": {"name": "x"}}}]},
         "line_items", "You can not pass `line_items` in `setup` mode."),
        ({"currency": None}, "currency", "Missing required param: currency"),
        ({"payment_method_types": ["bacs_debit"], "currency": None}, "payment_method_types",
         "only card in setup mode"),
        ({"payment_intent_data": {"description": "x"}}, "payment_intent_data",
         "You can not pass `payment_intent_data` in `setup` mode."),
    ],
)  # fmt: skip
def test_bad_setup_sessions_are_refused_naming_the_param(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str, fragment: str
) -> None:
    body = {"mode": "setup", "currency": "gbp", "success_url": SUCCESS, **params}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.checkout.sessions.create(params=body)
    assert (refused.value.http_status, refused.value.param) == (400, param)
    assert fragment in refused.value.user_message
    assert stripe_client.v1.checkout.sessions.list().data == []


def test_setup_intent_data_belongs_to_setup_mode(
    stripe_client: stripe.StripeClient, session_params: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.checkout.sessions.create(
            params=session_params(setup_intent_data={"description": "x"})
        )
    assert refused.value.param == "setup_intent_data"
    # With payment_method_types=[card], setup mode needs no currency.
    session = stripe_client.v1.checkout.sessions.create(
        params={"mode": "setup", "payment_method_types": ["card"], "success_url": SUCCESS}
    )
    assert (session.currency, session.payment_method_types) == (None, ["card"])


def test_an_expired_setup_session_cancels_its_setup_intent(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, customer: Any
) -> None:
    session = _setup_session(stripe_client, customer.id)
    stripe_client.v1.checkout.sessions.expire(session.id)
    setup_intent = stripe_client.v1.setup_intents.retrieve(session.setup_intent)
    assert (setup_intent.status, setup_intent.cancellation_reason) == ("canceled", "abandoned")
    listed = stripe_client.v1.setup_intents.list(params={"customer": customer.id})
    assert [si.id for si in listed.data] == [setup_intent.id]
    with pytest.raises(EmulatorError) as closed:
        emulator.pay(session.id)
    assert closed.value.status_code == 400
