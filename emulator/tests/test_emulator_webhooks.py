"""Signed webhook delivery: verification, secret roll, retries, faults, the log."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from stripe_emulator.client import EmulatorError
from stripe_emulator.config import EmulatorConfig, WebhookEndpoint
from stripe_emulator.testing import EmulatorServer, start_emulator

SECRET = "whsec_test_primary_secret"
OLD_SECRET = "whsec_test_old_secret"


@pytest.fixture
def endpoint(emulator: EmulatorServer, receiver: Any) -> Callable[..., dict[str, Any]]:
    def add(path: str = "/hooks", **options: Any) -> dict[str, Any]:
        options.setdefault("secret", SECRET)
        return emulator.add_endpoint(f"{receiver.url}{path}", **options)

    return add


def _customer(client: stripe.StripeClient, email: str = "w@example.com") -> Any:
    return client.v1.customers.create(params={"email": email})


def _event_ids(receiver: Any, path: str = "/hooks") -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.bodies(path)]


def test_delivery_is_signed_and_verifies_with_the_sdk(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    customer = _customer(stripe_client)
    emulator.wait_for_deliveries()

    (request,) = receiver.bodies("/hooks")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.signature.startswith("t=")
    event = stripe.Webhook.construct_event(request.text, request.signature, SECRET)
    assert event.type == "customer.created"
    assert event.data.object.id == customer.id
    assert event.pending_webhooks == 1  # as sent: this delivery had not yet succeeded
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request.text, request.signature, "whsec_wrong")

    # Once delivered, the stored event has no pending webhooks left.
    assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0
    (attempt,) = emulator.deliveries(event_id=event.id)
    assert (attempt["ok"], attempt["status_code"], attempt["attempt"]) == (True, 200, 1)
    assert attempt["endpoint_id"] == hook["id"]
    assert attempt["latency_ms"] >= 0


def test_secret_roll_sends_two_signatures_each_verifying(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    endpoint(secondary_secret=OLD_SECRET)
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    (request,) = receiver.bodies("/hooks")
    assert request.signature.count("v1=") == 2
    for secret in (SECRET, OLD_SECRET):
        event = stripe.Webhook.construct_event(request.text, request.signature, secret)
        assert event.type == "customer.created"


def test_failing_receiver_is_retried_with_growing_gaps(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    endpoint()
    receiver.fail_first = 3
    _customer(stripe_client)
    emulator.wait_for_deliveries()

    attempts = emulator.deliveries(type="customer.created")
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 200]
    assert [a["ok"] for a in attempts] == [False, False, False, True]
    assert [a["next_retry_in"] for a in attempts] == [0.05, 0.1, 0.2, None]
    starts = [a["started_at"] for a in attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Each wait is at least the planned back-off (scheduling only ever adds to it).
    for gap, planned in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert gap >= planned * 0.9
    assert gaps[-1] > gaps[0]
    # Every attempt carried the same event.
    assert len(set(_event_ids(receiver))) == 1
    assert len(receiver.bodies("/hooks")) == 4


def test_delivery_gives_up_after_max_attempts(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    endpoint()
    receiver.fail_first = 100
    receiver.fail_status = 503
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    attempts = emulator.deliveries()
    assert len(attempts) == emulator.config.max_attempts == 5
    assert attempts[-1]["next_retry_in"] is None
    assert attempts[-1]["error"] == "HTTP 503"

    failed = stripe_client.v1.events.list(params={"delivery_success": False}).data
    assert [e.type for e in failed] == ["customer.created"]
    assert failed[0].pending_webhooks == 1
    assert stripe_client.v1.events.list(params={"delivery_success": True}).data == []


def test_unreachable_endpoint_is_a_connection_error(
    emulator: EmulatorServer, stripe_client: stripe.StripeClient
) -> None:
    # A port that was free a moment ago: nothing listens there.
    from stripe_emulator.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    emulator.add_endpoint(f"http://127.0.0.1:{port}/nobody", secret=SECRET)
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    attempts = emulator.deliveries()
    assert len(attempts) == 5
    assert all(a["error"].startswith("connection error") for a in attempts)
    assert all(a["status_code"] is None for a in attempts)


def test_every_endpoint_gets_every_subscribed_event(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
    make_session: Callable[..., Any],
) -> None:
    endpoint("/all")
    endpoint("/checkout-only", enabled_events=["checkout.session.*"])
    session = make_session()
    _customer(stripe_client)
    emulator.pay(session.id)
    emulator.wait_for_deliveries()
    all_types = [json.loads(r.body)["type"] for r in receiver.bodies("/all")]
    assert sorted(all_types) == sorted(
        [
            "customer.created",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
        ]
    )
    only = [json.loads(r.body)["type"] for r in receiver.bodies("/checkout-only")]
    assert only == ["checkout.session.completed"]
    assert len(emulator.deliveries(endpoint=f"{receiver.url}/checkout-only")) == 1


def test_api_calls_do_not_wait_for_deliveries(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    endpoint()
    receiver.delay = 1.0
    started = time.monotonic()
    _customer(stripe_client)
    assert time.monotonic() - started < 0.5
    with pytest.raises(EmulatorError) as info:
        emulator.wait_for_deliveries(timeout=0.1)
    assert info.value.status_code == 408
    emulator.wait_for_deliveries()
    assert len(receiver.bodies("/hooks")) == 1


def test_resend_delivers_the_same_event_again(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    (event_id,) = _event_ids(receiver)
    emulator.resend(event_id, endpoint=hook["id"])
    emulator.wait_for_deliveries()
    assert _event_ids(receiver) == [event_id, event_id]
    assert [a["resend"] for a in emulator.deliveries(event_id=event_id)] == [False, True]


def test_fault_duplicate_delivers_each_event_twice(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    emulator.set_faults(hook["id"], duplicate_probability=1.0)
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    ids = _event_ids(receiver)
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert sorted(a["duplicate"] for a in emulator.deliveries()) == [False, True]


def test_fault_shuffle_reorders_a_window_of_events(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    seed = 7
    # A long hold: the window must fill up, however slowly this machine creates events.
    emulator.set_faults(hook["id"], shuffle_window=5, shuffle_hold_ms=10_000, seed=seed)
    emails = [f"c{i}@example.com" for i in range(5)]
    for email in emails:
        _customer(stripe_client, email)
    emulator.wait_for_deliveries()
    received = [json.loads(r.body)["data"]["object"]["email"] for r in receiver.bodies("/hooks")]
    expected = list(emails)
    random.Random(seed).shuffle(expected)
    assert expected != emails  # this seed really does reorder
    assert received == expected


def test_fault_shuffle_releases_a_partial_window(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    emulator.set_faults(hook["id"], shuffle_window=10, shuffle_hold_ms=50)
    _customer(stripe_client)
    emulator.wait_for_deliveries(timeout=5)
    assert len(receiver.bodies("/hooks")) == 1


def test_fault_drop_first_attempts_then_retry(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    emulator.set_faults(hook["id"], drop_first=2)
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    assert len(receiver.bodies("/hooks")) == 1  # the dropped attempts never arrived
    attempts = emulator.deliveries()
    assert [a["fault"] for a in attempts] == ["drop_first", "drop_first", None]
    assert [a["ok"] for a in attempts] == [False, False, True]


def test_fault_delay_holds_each_attempt(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    emulator.set_faults(hook["id"], delay_ms=200)
    started = time.monotonic()
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    (request,) = receiver.bodies("/hooks")
    assert request.at - started >= 0.2


def test_fault_timeout_discards_answers_so_the_receiver_sees_repeats(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    endpoint()
    emulator.set_faults(None, timeout=1)  # for every endpoint
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    ids = _event_ids(receiver)
    assert len(ids) == 2
    assert ids[0] == ids[1]
    attempts = emulator.deliveries()
    assert [(a["ok"], a["fault"]) for a in attempts] == [(False, "timeout_first"), (True, None)]


def test_slow_receiver_times_out_for_real(receiver: Any) -> None:
    config = EmulatorConfig(
        port=0,
        delivery_timeout=0.1,
        max_attempts=2,
        webhook_endpoints=[WebhookEndpoint(f"{receiver.url}/slow", secret=SECRET)],
    )
    receiver.delay = 0.5
    with start_emulator(config) as slow:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": slow.url})
        _customer(client)
        slow.wait_for_deliveries()
        attempts = slow.deliveries()
    assert [a["error"] for a in attempts] == ["timeout", "timeout"]


def test_reset_forgets_objects_log_and_faults_but_keeps_endpoints(
    emulator: EmulatorServer,
    receiver: Any,
    endpoint: Callable[..., dict[str, Any]],
    stripe_client: stripe.StripeClient,
) -> None:
    hook = endpoint()
    emulator.set_faults(hook["id"], drop_first=1)
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    emulator.reset()
    assert stripe_client.v1.customers.list().data == []
    assert stripe_client.v1.events.list().data == []
    assert emulator.deliveries() == []
    assert [e["id"] for e in emulator.endpoints()] == [hook["id"]]
    _customer(stripe_client)
    emulator.wait_for_deliveries()
    assert [a["fault"] for a in emulator.deliveries()] == [None]
    emulator.remove_endpoint(hook["id"])
    assert emulator.endpoints() == []


def test_sessions_past_expires_at_are_swept_without_being_read(receiver: Any) -> None:
    config = EmulatorConfig(
        port=0,
        expiry_sweep_interval=0.05,
        webhook_endpoints=[WebhookEndpoint(f"{receiver.url}/sweep", secret=SECRET)],
    )
    with start_emulator(config) as server:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                # 30 minutes is Stripe's minimum, counted from the emulator's own now: a few
                # seconds more, or a truncated time.time() under load falls short of it.
                "expires_at": int(time.time()) + 1810,
                "line_items": [
                    {"quantity": 1, "price_data": {"currency": "gbp", "unit_amount": 500,
                                                   "product_data": {"name": "x"}}}
                ],
            }
        )  # fmt: skip
        # Move the emulator's clock without the control API (which would expire at
        # once): only the background sweep can notice now.
        server.emulator.clock.offset += 1811
        deadline = time.monotonic() + 5
        while not receiver.bodies("/sweep"):
            assert time.monotonic() < deadline, "no checkout.session.expired was delivered"
            time.sleep(0.02)
        event = json.loads(receiver.bodies("/sweep")[0].body)
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["id"] == session.id
