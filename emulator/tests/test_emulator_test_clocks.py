"""Test clocks through the official SDK, over HTTP: create, advance (asynchronously, as on
Stripe), limits, customers on a clock, deletion."""

from __future__ import annotations

import time

import pytest
import stripe

from billing_support import price_params, subscription_session
from emulator_support import event_types
from stripe_emulator.testing import EmulatorServer

JAN_4 = 1_799_053_200  # Monday 4 January 2027, 09:00 UTC
DAY = 24 * 3600


def _ready(client: stripe.StripeClient, clock_id: str) -> stripe.test_helpers.TestClock:
    for _ in range(500):
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return clock
        time.sleep(0.01)
    raise AssertionError(f"test clock {clock_id} never became ready")


def test_a_clock_advances_asynchronously_and_reports_each_step(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": JAN_4, "name": "renewals"}
    )
    assert clock.id.startswith("clock_")
    assert (clock.status, clock.frozen_time, clock.name) == ("ready", JAN_4, "renewals")
    assert clock.deletes_after == clock.created + 7 * DAY
    customer = stripe_client.v1.customers.create(
        params={"email": "c@example.com", "test_clock": clock.id}
    )
    assert (customer.test_clock, customer.created) == (clock.id, JAN_4)

    advancing = stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": JAN_4 + DAY}
    )
    # The answer is the clock on its way: still at the old time, the target in status_details.
    assert (advancing.status, advancing.frozen_time) == ("advancing", JAN_4)
    assert advancing.status_details.advancing.target_frozen_time == JAN_4 + DAY
    ready = _ready(stripe_client, clock.id)
    assert (ready.frozen_time, ready.status_details.to_dict()) == (JAN_4 + DAY, {})
    emulator.wait_for_deliveries()
    assert event_types(emulator, "test_helpers.") == [
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.ready",
    ]
    listed = stripe_client.v1.customers.list(params={"test_clock": clock.id})
    assert [c.id for c in listed.data] == [customer.id]


def test_a_clock_moves_forward_only_and_at_most_two_years_without_subscriptions(
    stripe_client: stripe.StripeClient,
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_4})
    for target in (JAN_4, JAN_4 - 1, JAN_4 + 731 * DAY + 1):  # 2028 has 366 days
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.test_helpers.test_clocks.advance(
                clock.id, params={"frozen_time": target}
            )
        assert (info.value.http_status, info.value.param) == (400, "frozen_time")
    assert stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == JAN_4
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": JAN_4 + 731 * DAY}
    )
    assert _ready(stripe_client, clock.id).frozen_time == JAN_4 + 731 * DAY


def test_a_monthly_subscription_limits_an_advance_to_two_months(
    stripe_client: stripe.StripeClient, emulator: EmulatorServer
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_4})
    customer = stripe_client.v1.customers.create(params={"test_clock": clock.id})
    price = stripe_client.v1.prices.create(params=price_params(product_data={"name": "Plan"}))
    session = subscription_session(stripe_client, customer.id, price.id, "https://app.example/ok")
    emulator.pay(session.id)
    two_months = 1_804_150_800  # 4 March 2027, 09:00 UTC
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, params={"frozen_time": two_months + 1}
        )
    assert "two intervals" in str(info.value.user_message)
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": two_months})
    _ready(stripe_client, clock.id)
    # The first period's renewal has been invoiced and paid; the second is a draft.
    invoices = stripe_client.v1.invoices.list(params={"customer": customer.id}).data
    assert [(i.billing_reason, i.status) for i in invoices] == [
        ("subscription_cycle", "draft"),
        ("subscription_cycle", "paid"),
        ("subscription_create", "paid"),
    ]
    assert invoices[0].created == two_months  # created at the clock's time, not today's


def test_unknown_clocks_and_deletion(stripe_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.test_helpers.test_clocks.retrieve("clock_missing")
    assert missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as named:
        stripe_client.v1.customers.create(params={"test_clock": "clock_missing"})
    assert (named.value.http_status, named.value.param) == (400, "test_clock")

    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": JAN_4})
    customer = stripe_client.v1.customers.create(params={"test_clock": clock.id})
    deleted = stripe_client.v1.test_helpers.test_clocks.delete(clock.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert stripe_client.v1.customers.list().data == []  # its customers went with it
    assert stripe_client.v1.customers.retrieve(customer.id).deleted is True
