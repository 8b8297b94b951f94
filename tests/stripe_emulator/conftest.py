"""Fixtures for the Stripe emulator's tests: no database, everything on loopback.

One emulator and one webhook receiver serve the whole session (starting them takes
a fraction of a second, but there is no need to do it per test); both are reset
before every test.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import stripe_emulator  # noqa: F401
except ImportError:  # the project is not installed into the venv: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import stripe
from starlette.types import Receive, Scope, Send

from stripe_emulator.testing import EmulatorServer, ThreadedServer, start_emulator

API_KEY = "sk_test_emulator_tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def signature(self) -> str:
        return self.headers.get("stripe-signature", "")


class WebhookReceiver:
    """A tiny ASGI app that records every request; it can fail or stall on purpose."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.received: list[Received] = []
            self.fail_first = 0
            self.fail_status = 500
            self.delay = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.received.append(Received(scope["path"], headers, body, time.monotonic()))
            failing = len(self.received) <= self.fail_first
            delay = self.delay
        if delay:
            await asyncio.sleep(delay)
        status = self.fail_status if failing else 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b'{"received": true}'})

    def bodies(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]


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
