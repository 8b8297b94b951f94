"""Helpers shared by the emulator's tests: a webhook receiver, signed deliveries, event order."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stripe
from starlette.types import Receive, Scope, Send

from stripe_emulator.testing import EmulatorServer

API_KEY = "sk_test_emulator_tests"
SECRET = "whsec_money_back_tests"
REFUND_FAILS_CARD = "4000000000005126"
DISPUTED_CARD = "4000000000000259"


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
            if message["type"] == "http.disconnect":
                # The sender gave up (its timeout, under load) before the body arrived: not a
                # delivery, and recording it would be an empty "event" (it retries anyway).
                return
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


def require_file(path: Path, what: str, ci: str | None = None) -> None:
    """Tests that need ``path`` fail when it is missing under ``CI=true`` (CI must never pass
    them by skipping) and skip, saying why, everywhere else."""
    if path.is_file():
        return
    missing = f"{what} is not at {path}"
    if (os.environ.get("CI", "") if ci is None else ci).lower() in ("1", "true", "yes"):
        pytest.fail(f"these tests cannot run in CI: {missing}")
    pytest.skip(missing)
