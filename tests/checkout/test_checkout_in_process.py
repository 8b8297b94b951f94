"""A purchase with the app and the Stripe emulator both in-process: no server, no socket
between them (httpx.ASGITransport both ways). This is how the fast test tier wires them:

- the app's Stripe SDK reaches the emulator through `stripe_http_client=`, an HTTP client the
  emulator hands out (`InProcessEmulator.sdk_http_client()`), with `stripe_api_base` set to
  the emulator's `url`;
- the emulator delivers its webhooks to the app through `add_endpoint(..., app=app)`, signed
  with the app's webhook secret;
- the test talks to the app through its own `httpx.ASGITransport(app=app)` client and drives
  Stripe with the emulator's awaited control methods (`await emulator.pay(...)`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from medgrader.app import create_app
from medgrader.auth.service import create_admin, create_user, hash_password
from medgrader.config import Settings
from medgrader.core.adapters.stripe_gateway import StripeGateway
from medgrader.db.resolve import Database
from stripe_emulator.testing import InProcessEmulator
from tests.conftest import STRIPE_WEBHOOK_SECRET, WEBHOOK_PATH
from tests.support.services import ServiceRunner

APP_URL = "http://app.test"
PASSWORD = "in-process-password"


@dataclass
class InProcess:
    app: httpx.AsyncClient
    stripe: InProcessEmulator


@pytest.fixture
async def in_process(settings: Settings, database: Database) -> AsyncIterator[InProcess]:
    async with InProcessEmulator() as emulator:
        own = settings.model_copy(
            update={"stripe_api_base": emulator.url, "run_worker_in_process": False}
        )
        app = create_app(own, database=database, stripe_http_client=emulator.sdk_http_client())
        async with app.router.lifespan_context(app):
            await emulator.add_endpoint(
                f"{APP_URL}{WEBHOOK_PATH}", secret=STRIPE_WEBHOOK_SECRET, app=app
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as client:
                yield InProcess(app=client, stripe=emulator)


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


async def test_a_purchase_is_credited_through_in_process_stripe(
    in_process: InProcess, services: ServiceRunner, invariants: None
) -> None:
    tag = uuid.uuid4().hex[:8]
    admin_email, student_email = f"admin-{tag}@example.com", f"student-{tag}@example.com"
    services.in_transaction(
        lambda session, ctx: create_admin(session, ctx, email=admin_email, password=PASSWORD)
    )
    services.in_transaction(
        lambda session, ctx: create_user(
            session, ctx, email=student_email, password_hash=hash_password(PASSWORD, ctx.settings),
            role="student", first_name="In", last_name="Process",
        )
    )  # fmt: skip
    client, stripe_emulator = in_process.app, in_process.stripe
    admin, student = await _login(client, admin_email), await _login(client, student_email)
    package = await client.post(
        "/api/credit-packages",
        json={"name": f"In-process {tag}", "description": "250 credits", "credits": 250,
              "priceInCents": 2000},
        headers=admin,
    )  # fmt: skip
    assert package.status_code == 201, package.text
    before = (await client.get("/api/credits/balance", headers=student)).json()["balance"]

    checkout = await client.post(
        "/api/payments/credit-checkout", json={"packageId": package.json()["id"]}, headers=student
    )
    assert checkout.status_code == 201, checkout.text
    session_id = checkout.json()["sessionId"]
    assert checkout.json()["sessionUrl"].startswith(stripe_emulator.url)

    await stripe_emulator.pay(session_id)
    await stripe_emulator.wait_for_deliveries()

    (delivery,) = await stripe_emulator.deliveries(type="checkout.session.completed")
    assert (delivery["ok"], delivery["status_code"]) == (True, 200)
    after = (await client.get("/api/credits/balance", headers=student)).json()["balance"]
    assert after == before + 250
    sessions = (await client.get("/api/payments/checkout-sessions", headers=student)).json()
    assert [s["status"] for s in sessions["items"] if s["sessionId"] == session_id] == ["COMPLETED"]


async def test_the_gateway_uses_an_injected_sdk_client_and_leaves_it_open(
    settings: Settings,
) -> None:
    async with InProcessEmulator() as emulator:
        own = settings.model_copy(update={"stripe_api_base": emulator.url})
        sdk_client = emulator.sdk_http_client()
        first = StripeGateway(own, http_client=sdk_client)
        customer = await first.create_customer(
            student_id="s-1", email="gw@example.com", name="Gate Way", idempotency_key="gw-1"
        )
        await first.close()  # not its client to close
        second = StripeGateway(own, http_client=sdk_client)
        again = await second.create_customer(
            student_id="s-1", email="gw@example.com", name="Gate Way", idempotency_key="gw-1"
        )
        assert again == customer  # the same key replays: the same emulator, still reachable
        stored = emulator.emulator.store.customers[customer]
        assert (stored["email"], stored["metadata"]) == ("gw@example.com", {"student_id": "s-1"})
