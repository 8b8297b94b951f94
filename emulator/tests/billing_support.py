"""Subscriptions in-process: a plan, a customer on a test clock, signed webhooks to an app.

The ``billing`` fixture is what a product test does, through the official SDK: create a
test clock, a customer on it, a product and a monthly price; subscribe through Checkout;
advance the clock and poll it until it is ``ready`` (Stripe's test clocks advance
asynchronously); read the verified events its webhook endpoint received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe

from emulator_support import API_KEY, SECRET, WebhookReceiver
from stripe_emulator.testing import InProcessEmulator

WEBHOOK_URL = "http://app.test/webhooks/stripe"
VISA = "4242424242424242"
CHARGES_FAIL = "4000000000000341"
DECLINED = "4000000000000002"
# A fixed start (Monday 4 January 2027, 09:00 UTC), so period ends are known dates.
START = 1_799_053_200
DAY = 24 * 3600


@dataclass
class Billing:
    emulator: InProcessEmulator
    client: Any
    receiver: WebhookReceiver
    clock: Any
    customer: Any
    product: Any
    price: Any
    seen: int = field(default=0)

    async def subscribe(self, card: str = VISA, price: Any = None) -> Any:
        """Checkout ``mode=subscription`` paid with ``card``; returns the subscription."""
        session = await self.client.v1.checkout.sessions.create_async(
            params={
                "mode": "subscription",
                "customer": self.customer.id,
                "line_items": [{"price": (price or self.price).id, "quantity": 1}],
                "success_url": "https://app.example/plans/ok?session_id={CHECKOUT_SESSION_ID}",
                "subscription_data": {"metadata": {"plan_id": "plan-1"}},
            }
        )
        await self.emulator.pay(session.id, card=card)
        session = await self.client.v1.checkout.sessions.retrieve_async(session.id)
        return await self.client.v1.subscriptions.retrieve_async(session.subscription)

    async def new_price(self, amount: int, interval: str = "month") -> Any:
        params = price_params(amount, interval, product=self.product.id)
        return await self.client.v1.prices.create_async(params=params)

    async def advance_to(self, frozen_time: int) -> Any:
        """Advance the clock as a product test would: ask, then poll until ``ready``."""
        clock = await self.client.v1.test_helpers.test_clocks.advance_async(
            self.clock.id, params={"frozen_time": frozen_time}
        )
        assert clock.status == "advancing"
        for _ in range(200):
            clock = await self.client.v1.test_helpers.test_clocks.retrieve_async(self.clock.id)
            if clock.status == "ready":
                break
            await asyncio.sleep(0.01)
        assert (clock.status, clock.frozen_time) == ("ready", frozen_time)
        return clock

    async def events(self, *prefixes: str) -> list[stripe.Event]:
        """Every event delivered so far, verified with the endpoint's secret, oldest first."""
        await self.emulator.wait_for_deliveries()
        events = [
            stripe.Webhook.construct_event(r.text, r.signature, SECRET)
            for r in self.receiver.bodies()
        ]
        store = self.emulator.emulator.store
        events.sort(key=lambda e: store.order(e.id) or 0)
        return [e for e in events if not prefixes or e.type.startswith(prefixes)]

    async def new_events(self, *prefixes: str) -> list[stripe.Event]:
        """The events delivered since the last call (all kinds count towards "since")."""
        events = await self.events()
        fresh, self.seen = events[self.seen :], len(events)
        return [e for e in fresh if not prefixes or e.type.startswith(prefixes)]

    async def portal(self, return_url: str = "https://app.example/account") -> Any:
        return await self.client.v1.billing_portal.sessions.create_async(
            params={"customer": self.customer.id, "return_url": return_url}
        )

    async def portal_post(self, url: str, **form: str) -> httpx.Response:
        async with self.emulator.http() as http:
            return await http.post(url, data=form)

    async def portal_page(self, url: str) -> httpx.Response:
        async with self.emulator.http() as http:
            return await http.get(url)


def types(events: list[stripe.Event]) -> list[str]:
    return [e.type for e in events]


def price_params(amount: int = 1500, interval: str = "month", **product: Any) -> dict[str, Any]:
    """A recurring GBP price of ``product`` (``product=id``, or ``product_data={...}``)."""
    return {"currency": "gbp", "unit_amount": amount, "recurring": {"interval": interval},
            **product}  # fmt: skip


def subscription_session(
    client: stripe.StripeClient, customer: str, price: str, success_url: str
) -> Any:
    """A Checkout Session for one of ``price``, over HTTP (blocking SDK calls)."""
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": success_url,
        }
    )


@pytest.fixture
async def billing() -> AsyncIterator[Billing]:
    receiver = WebhookReceiver()
    async with InProcessEmulator() as emulator:
        await emulator.add_endpoint(WEBHOOK_URL, secret=SECRET, app=receiver)
        client = emulator.stripe_client(API_KEY)
        clock = await client.v1.test_helpers.test_clocks.create_async(
            params={"frozen_time": START, "name": "monthly plans"}
        )
        customer = await client.v1.customers.create_async(
            params={"email": "student@example.com", "name": "Ada", "test_clock": clock.id}
        )
        product = await client.v1.products.create_async(
            params={"name": "500 credits a month", "metadata": {"plan_id": "plan-1"}}
        )
        price = await client.v1.prices.create_async(params=price_params(product=product.id))
        yield Billing(emulator, client, receiver, clock, customer, product, price)
