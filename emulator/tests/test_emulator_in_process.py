"""The emulator in-process (InProcessEmulator): the official SDK, the control API and
webhooks all through httpx.ASGITransport, on the test's own event loop, with no socket.

The same emulator, app and state as over HTTP: deliveries are signed the same way, retried
the same way, logged the same way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from starlette.types import Receive, Scope, Send

from emulator_support import API_KEY, SECRET, WebhookReceiver
from stripe_emulator.client import EmulatorError
from stripe_emulator.testing import InProcessEmulator

APP_WEBHOOK_URL = "http://app.test/api/webhooks/stripe"


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """While the test runs, making a network socket, or binding or connecting any socket, is
    refused and recorded. (The event loop's own wake-up pipe, a socketpair made before the
    test, is neither.)"""
    opened: list[str] = []
    make_socket = socket.socket.__init__

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            opened.append(what)
            raise AssertionError(f"a socket was used in-process: {what}")

        return refused

    def guarded_init(self: socket.socket, family: int = -1, *args: Any, **kwargs: Any) -> None:
        fileno = kwargs.get("fileno", args[2] if len(args) > 2 else None)
        if family in (socket.AF_INET, socket.AF_INET6) or (family == -1 and fileno is None):
            refuse(f"socket.socket(family={family})")()
        make_socket(self, family, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "__init__", guarded_init)
    for name in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse(f"socket.{name}"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    yield opened
    assert opened == []


def _verified(received: Any) -> stripe.Event:
    return stripe.Webhook.construct_event(received.text, received.signature, SECRET)


async def test_the_sdk_pays_and_a_signed_event_reaches_an_asgi_app_with_no_socket(
    no_sockets: list[str], session_params: Callable[..., dict[str, Any]]
) -> None:
    app = WebhookReceiver()
    async with InProcessEmulator() as emulator:
        endpoint = await emulator.add_endpoint(
            APP_WEBHOOK_URL, secret=SECRET, enabled_events=["checkout.session.*"], app=app
        )
        client = emulator.stripe_client(API_KEY)
        session = await client.v1.checkout.sessions.create_async(
            params=session_params(metadata={"student_id": "s-1"})
        )
        assert session.status == "open"
        assert session.url.startswith(f"{emulator.url}/c/pay/")

        paid = await emulator.pay(session.id)
        assert paid["payment_status"] == "paid"
        await emulator.wait_for_deliveries()

        (received,) = app.bodies()
        assert received.path == "/api/webhooks/stripe"
        assert received.headers["content-type"] == "application/json; charset=utf-8"
        event = _verified(received)
        assert event.type == "checkout.session.completed"
        assert event.data.object.id == session.id
        assert event.data.object.payment_status == "paid"
        assert event.data.object.metadata["student_id"] == "s-1"
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(received.text, received.signature, "whsec_other")

        # The SDK sees what the webhook said, and the delivery is logged as over HTTP.
        retrieved = await client.v1.checkout.sessions.retrieve_async(session.id)
        assert (retrieved.status, retrieved.payment_intent) == (
            "complete",
            event.data.object.payment_intent,
        )
        (attempt,) = await emulator.deliveries(event_id=event.id)
        assert (attempt["ok"], attempt["status_code"], attempt["attempt"]) == (True, 200, 1)
        assert attempt["endpoint_id"] == endpoint["id"]
        assert attempt["signature"] == received.signature
    assert no_sockets == []


async def test_sdk_errors_and_blocking_calls_are_told_apart(no_sockets: list[str]) -> None:
    async with InProcessEmulator() as emulator:
        client = emulator.stripe_client(API_KEY)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.checkout.sessions.retrieve_async("cs_test_nope")
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
        # An ASGI app runs on this loop: a blocking call could only stall it, so it is refused.
        with pytest.raises(RuntimeError, match="async only"):
            client.v1.customers.list()


async def test_failed_deliveries_are_retried_signed_through_the_transport(
    no_sockets: list[str], session_params: Callable[..., dict[str, Any]]
) -> None:
    app = WebhookReceiver()
    app.fail_first = 2
    async with InProcessEmulator(retry_base_delay=0.01, max_attempts=4) as emulator:
        await emulator.add_endpoint(
            APP_WEBHOOK_URL, secret=SECRET, enabled_events=["checkout.session.completed"], app=app
        )
        session = await emulator.stripe_client(API_KEY).v1.checkout.sessions.create_async(
            params=session_params()
        )
        await emulator.pay(session.id)
        await emulator.wait_for_deliveries()
        # Three requests of the one event, each signed afresh and verifying.
        events = [_verified(r) for r in app.bodies()]
        assert [e.type for e in events] == ["checkout.session.completed"] * 3
        assert len({e.id for e in events}) == 1
        assert len({r.signature for r in app.bodies()}) >= 1
        attempts = await emulator.deliveries(event_id=events[0].id)
        assert [(a["attempt"], a["ok"], a["status_code"]) for a in attempts] == [
            (1, False, 500),
            (2, False, 500),
            (3, True, 200),
        ]
        assert [a["next_retry_in"] for a in attempts] == [0.01, 0.02, None]


async def test_an_app_that_raises_answers_500_and_is_retried(no_sockets: list[str]) -> None:
    calls: list[str] = []

    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["path"])
        if len(calls) == 1:
            raise RuntimeError("the receiver crashed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with InProcessEmulator(retry_base_delay=0.01) as emulator:
        await emulator.add_endpoint(
            APP_WEBHOOK_URL, secret=SECRET, enabled_events=["customer.created"], app=flaky
        )
        customer = await emulator.stripe_client(API_KEY).v1.customers.create_async(
            params={"email": "raise@example.com"}
        )
        await emulator.wait_for_deliveries()
        attempts = await emulator.deliveries(type="customer.created")
        assert [(a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [
            (1, 500, False),
            (2, 200, True),
        ]
        assert customer.id.startswith("cus_")
        assert len(calls) == 2


async def test_control_operations_in_process_resend_faults_refund_dispute(
    no_sockets: list[str], session_params: Callable[..., dict[str, Any]]
) -> None:
    app = WebhookReceiver()
    async with InProcessEmulator(retry_base_delay=0.01) as emulator:
        await emulator.add_endpoint(APP_WEBHOOK_URL, secret=SECRET, app=app)
        client = emulator.stripe_client(API_KEY)
        session = await client.v1.checkout.sessions.create_async(params=session_params())
        await emulator.pay(session.id)
        await emulator.wait_for_deliveries()
        (completed,) = await emulator.deliveries(type="checkout.session.completed")

        # A fault on the in-process endpoint, then a resend: dropped once, then delivered.
        faults = await emulator.set_faults(APP_WEBHOOK_URL, drop_first=1)
        assert faults["drop_first"] == 1
        before = len(app.bodies())
        await emulator.resend(completed["event_id"])
        await emulator.wait_for_deliveries()
        resent = [
            a for a in await emulator.deliveries(event_id=completed["event_id"]) if a["resend"]
        ]
        assert [(a["fault"], a["ok"]) for a in resent] == [("drop_first", False), (None, True)]
        assert len(app.bodies()) == before + 1  # the dropped attempt never reached the app
        assert _verified(app.bodies()[-1]).id == completed["event_id"]
        await emulator.clear_faults()

        # Money going back, as the Dashboard and the bank do it.
        refund = await emulator.refund(payment_intent=await session_pi(client, session.id))
        assert (refund["status"], refund["amount"]) == ("succeeded", 1000)
        other = await client.v1.checkout.sessions.create_async(params=session_params())
        await emulator.pay(other.id)
        dispute = await emulator.dispute(payment_intent=await session_pi(client, other.id))
        closed = await emulator.close_dispute(dispute["id"], "lost")
        assert closed["status"] == "lost"
        expiring = await client.v1.checkout.sessions.create_async(params=session_params())
        assert (await emulator.expire(expiring.id))["status"] == "expired"
        with pytest.raises(EmulatorError) as refused:
            await emulator.pay(expiring.id)
        assert refused.value.status_code == 400
        await emulator.wait_for_deliveries()
        types = {_verified(r).type for r in app.bodies()}
        assert {
            "charge.refunded",
            "charge.dispute.created",
            "charge.dispute.closed",
            "checkout.session.expired",
        } <= types


async def session_pi(client: Any, session_id: str) -> str:
    session = await client.v1.checkout.sessions.retrieve_async(session_id)
    return str(session.payment_intent)


async def test_a_slow_app_is_a_timeout_but_its_request_runs_on(no_sockets: list[str]) -> None:
    """As over the network: the emulator stops waiting, the receiver does not stop working."""
    finished: list[str] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.3)
        finished.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with InProcessEmulator(delivery_timeout=0.05, max_attempts=1) as emulator:
        await emulator.add_endpoint(
            APP_WEBHOOK_URL, secret=SECRET, enabled_events=["customer.created"], app=slow
        )
        await emulator.stripe_client(API_KEY).v1.customers.create_async(
            params={"email": "slow@example.com"}
        )
        await emulator.wait_for_deliveries()
        (attempt,) = await emulator.deliveries(type="customer.created")
        assert (attempt["ok"], attempt["error"]) == (False, "timeout")
        assert finished == []
        await asyncio.sleep(0.5)
        assert finished == ["/api/webhooks/stripe"]
