"""Helpers shared by the refund and dispute tests: signed deliveries, event order."""

from __future__ import annotations

import json
from typing import Any

import stripe

from stripe_emulator.testing import EmulatorServer

SECRET = "whsec_money_back_tests"
REFUND_FAILS_CARD = "4000000000005126"
DISPUTED_CARD = "4000000000000259"


def listen(emulator: EmulatorServer, receiver: Any, path: str = "/money") -> str:
    """Subscribe the test receiver to every event; returns the path it receives on."""
    emulator.add_endpoint(f"{receiver.url}{path}", secret=SECRET)
    return path


def delivered(emulator: EmulatorServer, receiver: Any, path: str = "/money") -> list[Any]:
    """Every event the receiver got, each verified with the endpoint's secret.

    Deliveries run concurrently, so the list is put in creation order (the order of
    ``/v1/events``, oldest first) rather than arrival order.
    """
    emulator.wait_for_deliveries()
    events = [
        stripe.Webhook.construct_event(r.text, r.signature, SECRET) for r in receiver.bodies(path)
    ]
    assert len({e.id for e in events}) == len(events), "an event was delivered twice"
    order = {e.id: i for i, e in enumerate(_all_events(emulator))}
    return sorted(events, key=lambda e: order[e.id])


def _all_events(emulator: EmulatorServer) -> list[dict[str, Any]]:
    client = stripe.StripeClient(
        "sk_test_support", base_addresses={"api": emulator.url}, max_network_retries=0
    )
    events = [e for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    return list(reversed(events))


def types_of(events: list[Any], *prefixes: str) -> list[str]:
    return [e.type for e in events if not prefixes or e.type.startswith(prefixes)]


def event_types(emulator: EmulatorServer, *prefixes: str) -> list[str]:
    """Types of every recorded event, oldest first, optionally only some prefixes."""
    return [
        e["type"] for e in _all_events(emulator) if not prefixes or e["type"].startswith(prefixes)
    ]


def raw(obj: Any) -> dict[str, Any]:
    """A StripeObject as the plain JSON it came from (to check absent keys)."""
    return json.loads(str(obj))
