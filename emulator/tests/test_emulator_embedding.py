"""The emulator mounted inside another ASGI app (how a demo can serve both at once)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from fastapi import FastAPI

from stripe_emulator import EmulatorConfig, EmulatorControl, ThreadedServer, create_app
from stripe_emulator.server import bind_socket


@pytest.fixture
def mounted() -> Iterator[str]:
    sock = bind_socket("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/stripe"
    parent = FastAPI()
    parent.mount("/stripe", create_app(EmulatorConfig(public_url=base)))
    with ThreadedServer(parent, sock=sock):
        yield base


def test_mounted_emulator_serves_api_page_and_webhooks(mounted: str, receiver: Any) -> None:
    control = EmulatorControl(mounted)
    control.add_endpoint(f"{receiver.url}/mounted", secret="whsec_m")
    client = stripe.StripeClient(
        "sk_test_m", base_addresses={"api": mounted}, max_network_retries=0
    )
    params = {
        "mode": "payment",
        "customer_email": "m@example.com",
        "line_items": [{"quantity": 1, "price_data": {"currency": "gbp", "unit_amount": 1000,
                                                      "product_data": {"name": "x"}}}],
    }  # fmt: skip
    session = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "i"})
    again = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "i"})
    assert again.id == session.id
    assert session.url.startswith(f"{mounted}/c/pay/")
    assert httpx.get(f"{mounted}/v1/customers").status_code == 401

    with httpx.Client() as browser:
        page = browser.get(session.url)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None
        paid = browser.post(session.url.rsplit("/", 1)[0] + "/" + action.group(1),
                            data={"card_number": "4242424242424242"})  # fmt: skip
        assert paid.status_code == 303
        thanks = browser.get(httpx.URL(session.url).join(paid.headers["location"]))
        assert "Thanks for your payment." in thanks.text

    control.wait_for_deliveries()
    types = [r.text for r in receiver.bodies("/mounted")]
    assert any('"checkout.session.completed"' in t for t in types)
    control.close()
