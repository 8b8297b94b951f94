"""The hosted checkout page, driven over HTTP as a browser would (forms, redirects)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import EmulatorServer


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    # Redirects are followed by hand so that each hop can be checked.
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def _pay(browser: httpx.Client, url: str, **form: str) -> httpx.Response:
    page = browser.get(url)
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    return browser.post(httpx.URL(url).join(action.group(1)), data=form)


def _types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in reversed(client.v1.events.list(params={"limit": 100}).data)]


def test_page_shows_line_items_total_and_cancel_link(
    browser: httpx.Client, make_session: Callable[..., Any]
) -> None:
    session = make_session(
        line_items=[
            {"quantity": 2, "price_data": {"currency": "gbp", "unit_amount": 4500,
                                           "product_data": {"name": "500 credits",
                                                            "description": "Best value"}}},
        ]
    )  # fmt: skip
    page = browser.get(session.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "500 credits" in html
    assert "Best value" in html
    assert "£45.00" in html  # unit price
    assert re.search(r'id="total">£90.00<', html)
    assert 'href="https://app.example/cancel"' in html
    assert 'name="card_number"' in html
    assert 'value="bank_transfer"' in html
    assert "<script" not in html


def test_card_payment_redirects_to_success_url_with_session_id(
    browser: httpx.Client,
    make_session: Callable[..., Any],
    stripe_client: stripe.StripeClient,
) -> None:
    session = make_session(customer_email="student@example.com")
    response = _pay(browser, session.url, payment_method="card", card_number="4242 4242 4242 4242")
    assert response.status_code == 303
    assert response.headers["location"] == (f"https://app.example/success?session_id={session.id}")
    paid = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.payment_intent.status == "succeeded"
    charge = stripe_client.v1.charges.retrieve(paid.payment_intent.latest_charge)
    assert charge.billing_details.email == "student@example.com"
    assert charge.payment_method_details.card.last4 == "4242"
    assert _types(stripe_client) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]

    # The page now says so, and refuses a second payment.
    assert "complete" in browser.get(session.url).text
    again = browser.post(
        session.url, data={"payment_method": "card", "card_number": "4242424242424242"}
    )
    assert again.status_code == 409


def test_declined_card_shows_message_and_leaves_session_open(
    browser: httpx.Client, make_session: Callable[..., Any], stripe_client: stripe.StripeClient
) -> None:
    session = make_session()
    response = _pay(browser, session.url, email="s@example.com", payment_method="card",
                    card_number="4000 0000 0000 0002")  # fmt: skip
    assert response.status_code == 402
    assert "Your card was declined." in response.text
    assert 'name="card_number"' in response.text  # the form is shown again

    after = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (after.status, after.payment_status) == ("open", "unpaid")
    pi = stripe_client.v1.payment_intents.retrieve(after.payment_intent)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "card_declined"
    # As on Stripe, the declined attempt is a failed charge (nothing captured).
    (failed,) = stripe_client.v1.charges.list().data
    assert (failed.id, failed.status, failed.paid, failed.amount_captured) == (
        pi.latest_charge,
        "failed",
        False,
        0,
    )
    assert (failed.failure_code, failed.outcome.reason) == ("card_declined", "generic_decline")
    assert _types(stripe_client) == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]

    # Another card then succeeds on the same PaymentIntent.
    retry = _pay(browser, session.url, email="s@example.com", card_number="4242424242424242")
    assert retry.status_code == 303
    assert stripe_client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000000000009995", "insufficient funds"),
        ("1234 5678", "card number is incorrect"),
        ("4111111111111111", "non test (live) card"),
    ],
)
def test_other_card_failures(
    browser: httpx.Client, make_session: Callable[..., Any], card: str, message: str
) -> None:
    session = make_session(customer_email="s@example.com")
    response = _pay(browser, session.url, card_number=card)
    assert response.status_code == 402
    assert message in response.text


def test_bank_transfer_then_settles_as_paid(
    browser: httpx.Client,
    make_session: Callable[..., Any],
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
) -> None:
    session = make_session()
    response = _pay(browser, session.url, email="slow@example.com", payment_method="bank_transfer")
    assert response.status_code == 303
    assert response.headers["location"].endswith(session.id)

    pending = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert (pending.status, pending.payment_status) == ("complete", "unpaid")
    assert pending.payment_intent.status == "processing"
    assert _types(stripe_client)[-1] == "checkout.session.completed"

    emulator.settle(session.id, "succeeded")
    settled = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert settled.payment_status == "paid"
    assert settled.payment_intent.status == "succeeded"
    assert settled.payment_intent.latest_charge.status == "succeeded"
    assert _types(stripe_client)[-3:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded",
    ]
    with pytest.raises(EmulatorError, match="no delayed payment"):
        emulator.settle(session.id, "succeeded")


def test_bank_transfer_then_fails(
    browser: httpx.Client,
    make_session: Callable[..., Any],
    stripe_client: stripe.StripeClient,
    emulator: EmulatorServer,
) -> None:
    session = make_session()
    assert (
        _pay(
            browser, session.url, email="x@example.com", payment_method="bank_transfer"
        ).status_code
        == 303
    )
    emulator.settle(session.id, "failed")
    failed = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]}
    )
    assert (failed.status, failed.payment_status) == ("complete", "unpaid")
    assert failed.payment_intent.status == "requires_payment_method"
    assert failed.payment_intent.latest_charge.status == "failed"
    assert _types(stripe_client)[-1] == "checkout.session.async_payment_failed"
    assert (
        stripe_client.v1.events.list(
            params={"type": "checkout.session.async_payment_succeeded"}
        ).data
        == []
    )


def test_cancel_link_leads_to_cancel_url_and_leaves_session_open(
    browser: httpx.Client,
    make_session: Callable[..., Any],
    stripe_client: stripe.StripeClient,
    receiver: Any,
) -> None:
    session = make_session(cancel_url=f"{receiver.url}/cancelled?from=checkout")
    page = browser.get(session.url)
    link = re.search(r'<a class="back" id="cancel" href="([^"]+)"', page.text)
    assert link is not None
    landed = browser.get(link.group(1).replace("&amp;", "&"))
    assert landed.status_code == 200
    assert receiver.bodies()[-1].path == "/cancelled"
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_expired_unknown_and_incomplete_forms(
    browser: httpx.Client, make_session: Callable[..., Any], emulator: EmulatorServer
) -> None:
    session = make_session()
    no_email = browser.post(session.url, data={"card_number": "4242424242424242"})
    assert no_email.status_code == 400
    assert "Enter your email address." in no_email.text

    emulator.expire(session.id)
    # Stripe clears ``url`` on expiry, but the page still explains.
    page = browser.get(f"{emulator.url}/c/pay/{session.id}")
    assert "no longer active" in page.text
    assert browser.get(f"{emulator.url}/c/pay/cs_test_unknown").status_code == 404


def test_session_without_success_url_ends_on_a_thank_you_page(
    browser: httpx.Client, stripe_client: stripe.StripeClient, session_params: Callable[..., Any]
) -> None:
    params = session_params(customer_email="t@example.com")
    del params["success_url"]
    session = stripe_client.v1.checkout.sessions.create(params=params)
    response = _pay(browser, session.url, card_number="4242424242424242")
    assert response.status_code == 303
    thanks = browser.get(httpx.URL(session.url).join(response.headers["location"]))
    assert "Thanks for your payment." in thanks.text
