"""Fixtures for the Stripe emulator's tests: no database, everything on loopback.

One emulator and one webhook receiver serve the whole session (starting them takes
a fraction of a second, but there is no need to do it per test); both are reset
before every test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import stripe_emulator  # noqa: F401
except ImportError:  # the emulator is not installed into the venv: use its source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import stripe

from emulator_support import API_KEY, WebhookReceiver
from stripe_emulator.testing import EmulatorServer, ThreadedServer, start_emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    server = start_emulator()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[WebhookReceiver, str]]:
    app = WebhookReceiver()
    with ThreadedServer(app) as server:
        yield app, server.url


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: EmulatorServer) -> None:
    emulator.reset(webhook_endpoints=[])


@pytest.fixture
def receiver(receiver_server: tuple[WebhookReceiver, str]) -> WebhookReceiver:
    app, url = receiver_server
    app.reset()
    app.url = url  # type: ignore[attr-defined]
    return app


@pytest.fixture
def stripe_client(emulator: EmulatorServer) -> stripe.StripeClient:
    # max_network_retries=0: a test must see the emulator's first answer.
    return stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url}, max_network_retries=0)


def _session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": 1000,
                    "product_data": {"name": "100 credits", "description": "MedGrader credits"},
                },
            }
        ],
        "success_url": "https://app.example/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/cancel",
    }
    params.update(overrides)
    return params


@pytest.fixture
def session_params() -> Callable[..., dict[str, Any]]:
    """Valid Checkout Session parameters (one £10.00 line item), with overrides."""
    return _session_params


@pytest.fixture
def make_session(stripe_client: stripe.StripeClient) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return stripe_client.v1.checkout.sessions.create(params=_session_params(**overrides))

    return make


@pytest.fixture
def paid_session(
    make_session: Callable[..., Any], emulator: EmulatorServer, stripe_client: stripe.StripeClient
) -> Any:
    session = make_session()
    emulator.pay(session.id)
    return stripe_client.v1.checkout.sessions.retrieve(session.id)


@pytest.fixture
def customer(stripe_client: stripe.StripeClient) -> Any:
    return stripe_client.v1.customers.create(params={"email": "saver@example.com"})


@pytest.fixture
def save_card(stripe_client: stripe.StripeClient, emulator: EmulatorServer) -> Callable[..., Any]:
    """Save a test card to a customer the way a student does: a setup-mode Checkout
    Session, completed with that card. Returns the attached PaymentMethod."""

    def save(customer_id: str, card: str = "4242424242424242", expiry: str | None = None) -> Any:
        session = stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "setup",
                "currency": "gbp",
                "customer": customer_id,
                "success_url": "https://app.example/saved?session_id={CHECKOUT_SESSION_ID}",
            }
        )
        emulator.pay(session.id, card=card, expiry=expiry)
        setup_intent = stripe_client.v1.setup_intents.retrieve(session.setup_intent)
        return stripe_client.v1.payment_methods.retrieve(setup_intent.payment_method)

    return save
