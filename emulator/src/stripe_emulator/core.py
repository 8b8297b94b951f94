"""The emulator as one object: configuration, state, events and webhook delivery.

HTTP layers (the Stripe API, the hosted page, the control API) all act through an
``Emulator``; the operations in :mod:`stripe_emulator.operations` take it first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_emulator.clock import Clock
from stripe_emulator.config import EmulatorConfig, WebhookEndpoint
from stripe_emulator.idempotency import IdempotencyCache
from stripe_emulator.objects.event import build_event
from stripe_emulator.persistence import load_store, save_store
from stripe_emulator.store import Store, StripeObject
from stripe_emulator.webhooks.dispatcher import WebhookDispatcher


@dataclass(frozen=True)
class RequestContext:
    """The API request that caused a change, echoed in its events' ``request`` field.

    Changes with no API request behind them (a customer paying on the hosted page, a
    bank settling, a session timing out, the control API) carry ``id: null``, as
    Stripe's automatic events do.
    """

    request_id: str | None = None
    idempotency_key: str | None = None
    api_version: str | None = None


AUTOMATIC = RequestContext()

log = logging.getLogger("stripe_emulator")


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock()
        self.store = Store(self.clock)
        self.webhooks = WebhookDispatcher(self.config, on_delivered=self._on_delivered)
        self.idempotency = IdempotencyCache()
        # Work that Stripe does after answering (a test clock advancing), running on the
        # event loop; ``settle`` waits for it.
        self._deferred: set[asyncio.Task[None]] = set()
        if self.config.state_path is not None:
            load_store(self.store, self.config.state_path)

    def save(self) -> None:
        """Write the objects to the state file, if there is one."""
        if self.config.state_path is not None:
            save_store(self.store, self.config.state_path)

    def now(self) -> int:
        return self.clock.now()

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the current request has been answered (at once when there is
        no running event loop). Its changes are saved when it is done."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            work()
            return

        async def run() -> None:
            await asyncio.sleep(0)
            try:
                work()
            except Exception:
                log.exception("stripe emulator: deferred work failed")
            self.save()

        task = loop.create_task(run())
        self._deferred.add(task)
        task.add_done_callback(self._deferred.discard)

    async def settle(self) -> None:
        """Wait until no deferred work is left (work may defer more work)."""
        while self._deferred:
            await asyncio.gather(*list(self._deferred), return_exceptions=True)

    def emit(
        self,
        event_type: str,
        obj: StripeObject,
        ctx: RequestContext = AUTOMATIC,
        previous_attributes: dict[str, Any] | None = None,
    ) -> StripeObject:
        """Record an event with a snapshot of ``obj`` and send it to the endpoints."""
        event = build_event(
            created=self.now(),
            event_type=event_type,
            obj=obj,
            api_version=ctx.api_version or self.config.api_version,
            request_id=ctx.request_id,
            idempotency_key=ctx.idempotency_key,
            previous_attributes=previous_attributes,
        )
        endpoints = self.webhooks.targets(event_type)
        event["pending_webhooks"] = len(endpoints)
        self.store.add(event)
        self.store.private[event["id"]] = {"undelivered": {e.id for e in endpoints}}
        self.webhooks.dispatch(event, endpoints)
        return event

    def update(
        self,
        obj: StripeObject,
        changes: dict[str, Any],
        event_type: str,
        ctx: RequestContext = AUTOMATIC,
    ) -> StripeObject:
        """Apply ``changes``; ``event_type`` (``previous_attributes``: the old values of the
        fields that changed) is emitted only if something did change, as on Stripe."""
        previous = {k: obj[k] for k, v in changes.items() if obj.get(k) != v}
        obj.update(changes)
        if previous:
            self.emit(event_type, obj, ctx, previous_attributes=previous)
        return obj

    def _on_delivered(self, event_id: str, endpoint_id: str) -> None:
        event = self.store.events.get(event_id)
        undelivered = self.store.private.get(event_id, {}).get("undelivered")
        if event is None or undelivered is None:
            return
        undelivered.discard(endpoint_id)
        event["pending_webhooks"] = len(undelivered)

    def reset(self, endpoints: list[WebhookEndpoint] | None = None) -> None:
        """Forget every object, event, delivery, fault and idempotency key.

        Webhook endpoints are kept unless ``endpoints`` replaces them.
        """
        self.webhooks.reset(endpoints)
        self.store.reset()
        self.clock.reset()
        self.idempotency.clear()
