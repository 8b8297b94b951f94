"""Over HTTP: a subscription bought on the hosted checkout page, renewed as the emulator's own
time passes (no test clock), and managed on the hosted Billing Portal (cancel, renew, replace
the card, see invoices), with the SDK for everything Stripe's API does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from billing_support import price_params, subscription_session
from emulator_support import event_types
from stripe_emulator.testing import EmulatorServer

DAY = 24 * 3600


@pytest.fixture
def subscribed(stripe_client: stripe.StripeClient, emulator: EmulatorServer) -> Any:
    """A customer who subscribed on the hosted checkout page with 4242."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    price = stripe_client.v1.prices.create(
        params=price_params(product_data={"name": "500 credits a month"})
    )
    session = subscription_session(
        stripe_client,
        customer.id,
        price.id,
        "https://app.example/ok?session_id={CHECKOUT_SESSION_ID}",
    )
    page = httpx.get(session.url)
    assert page.status_code == 200
    assert "£15.00 / month" in page.text
    paid = httpx.post(
        session.url, data={"payment_method": "card", "card_number": "4242 4242 4242 4242"}
    )
    assert paid.status_code == 303
    assert paid.headers["location"] == f"https://app.example/ok?session_id={session.id}"
    session = stripe_client.v1.checkout.sessions.retrieve(session.id)
    return stripe_client.v1.subscriptions.retrieve(session.subscription)


def test_without_a_test_clock_a_subscription_renews_as_emulator_time_passes(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, subscribed: Any
) -> None:
    end = subscribed.items.data[0].current_period_end
    assert 28 * DAY <= end - subscribed.items.data[0].current_period_start <= 31 * DAY
    moved = emulator.advance_clock(32 * DAY)
    assert moved["subscriptions"] >= 2  # the renewal, then its finalization an hour later
    invoices = stripe_client.v1.invoices.list(params={"subscription": subscribed.id}).data
    assert [(i.billing_reason, i.status, i.amount_paid) for i in invoices] == [
        ("subscription_cycle", "paid", 1500),
        ("subscription_create", "paid", 1500),
    ]
    assert invoices[0].lines.data[0].period.start == end
    emulator.wait_for_deliveries()
    assert event_types(emulator, "invoice.paid") == ["invoice.paid", "invoice.paid"]


def test_the_portal_shows_the_plan_and_cancels_and_renews_it(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, subscribed: Any
) -> None:
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": subscribed.customer, "return_url": "https://app.example/account"}
    )
    assert portal.id.startswith("bps_")
    assert portal.url.startswith(f"{emulator.url}/p/session/")
    assert portal.configuration.startswith("bpc_")
    page = httpx.get(portal.url)
    assert page.status_code == 200
    for text in ("500 credits a month", "£15.00 / month", "renews on", "Visa •••• 4242",
                 "https://app.example/account", "paid"):  # fmt: skip
        assert text in page.text

    canceled = httpx.post(f"{portal.url}/subscriptions/{subscribed.id}/cancel")
    assert (canceled.status_code, canceled.headers["location"]) == (303, portal.url)
    assert stripe_client.v1.subscriptions.retrieve(subscribed.id).cancel_at_period_end is True
    assert "will be canceled on" in httpx.get(portal.url).text
    renewed = httpx.post(f"{portal.url}/subscriptions/{subscribed.id}/renew")
    assert renewed.status_code == 303
    assert stripe_client.v1.subscriptions.retrieve(subscribed.id).cancel_at_period_end is False
    emulator.wait_for_deliveries()
    assert event_types(emulator, "billing_portal.") == ["billing_portal.session.created"]


def test_the_portal_replaces_the_card_and_refuses_one_that_cannot_be_saved(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer, subscribed: Any
) -> None:
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": subscribed.customer}
    )
    refused = httpx.post(f"{portal.url}/payment_method", data={"card_number": "4000000000000002"})
    assert refused.status_code == 402
    assert "Your card was declined." in refused.text
    assert stripe_client.v1.subscriptions.retrieve(subscribed.id).default_payment_method == (
        subscribed.default_payment_method
    )
    saved = httpx.post(f"{portal.url}/payment_method", data={"card_number": "4000000000000341"})
    assert saved.status_code == 303
    sub = stripe_client.v1.subscriptions.retrieve(subscribed.id)
    assert sub.default_payment_method != subscribed.default_payment_method
    assert "•••• 0341" in httpx.get(portal.url).text
    customer = stripe_client.v1.customers.retrieve(subscribed.customer)
    assert customer.invoice_settings.default_payment_method == sub.default_payment_method


def test_a_hosted_invoice_page_shows_what_was_paid(
    stripe_client: stripe.StripeClient, subscribed: Any
) -> None:
    invoice = stripe_client.v1.invoices.retrieve(subscribed.latest_invoice)
    page = httpx.get(invoice.hosted_invoice_url)
    assert page.status_code == 200
    assert invoice.number in page.text
    assert "£15.00" in page.text
    assert httpx.get(invoice.hosted_invoice_url + "x").status_code == 404


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "customer"),
        ({"customer": "cus_missing"}, "customer"),
        ({"customer": "{customer}", "return_url": "not a url"}, "return_url"),
        ({"customer": "{customer}", "configuration": "bpc_other"}, "configuration"),
        ({"customer": "{customer}", "flow_data": {"type": "payment_method_update"}}, "flow_data"),
    ],
)
def test_bad_portal_sessions_are_refused(
    stripe_client: stripe.StripeClient, params: dict[str, Any], param: str
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "b@example.com"})
    params = {k: (customer.id if v == "{customer}" else v) for k, v in params.items()}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing_portal.sessions.create(params=params)
    assert (info.value.http_status, info.value.param) == (400, param)


def test_an_unknown_portal_session_is_404(emulator: EmulatorServer) -> None:
    assert httpx.get(f"{emulator.url}/p/session/test_nope").status_code == 404
