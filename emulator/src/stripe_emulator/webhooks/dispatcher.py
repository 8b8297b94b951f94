"""Delivering events to webhook endpoints in the background, with retries.

Every event is handed to :meth:`WebhookDispatcher.dispatch` by the code that emitted
it; delivery then runs in asyncio tasks on the emulator's own loop, so an API call
never waits for a webhook. A failed attempt (non-2xx, connection error, timeout) is
retried after ``retry_base_delay * 2**(attempt-1)`` seconds, up to ``max_attempts``.

An endpoint with a ``transport`` (an app in the same process, behind
``httpx.ASGITransport``) is posted to through it, signed and retried exactly the same.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

import httpx

from stripe_emulator.config import EmulatorConfig, WebhookEndpoint
from stripe_emulator.ids import new_id
from stripe_emulator.webhooks.faults import Faults, FaultState
from stripe_emulator.webhooks.log import DeliveryAttempt, DeliveryLog
from stripe_emulator.webhooks.signing import signature_header

# Faults registered under this key apply to endpoints that have none of their own.
ALL_ENDPOINTS = "*"

_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass
class Delivery:
    """One event on its way to one endpoint (a chain of attempts)."""

    event: dict[str, Any]
    endpoint: WebhookEndpoint
    duplicate: bool = False
    resend: bool = False
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or new_id("whd_")


@dataclass
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    fault: str | None = None


class WebhookDispatcher:
    def __init__(
        self, config: EmulatorConfig, on_delivered: Callable[[str, str], None] | None = None
    ) -> None:
        self.config = config
        self.endpoints: list[WebhookEndpoint] = list(config.webhook_endpoints)
        self.faults: dict[str, FaultState] = {}
        self.log = DeliveryLog()
        self._on_delivered = on_delivered
        # Deliveries not yet finished (in flight, waiting for a retry, or held back
        # by the shuffle fault); ``wait_idle`` waits for this to empty.
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Requests to in-process endpoints whose answer came too late: like a server that
        # keeps working after the client hung up, they run on (a reset does not stop them).
        self._late: set[asyncio.Task[httpx.Response]] = set()
        self._held: dict[str, list[Delivery]] = {}
        # One client for the network, one per injected transport; all of one loop.
        self._clients: dict[int, httpx.AsyncClient] = {}
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # -- endpoints and faults -------------------------------------------------

    def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        # One endpoint per URL: re-adding a URL replaces its secrets.
        self.endpoints = [e for e in self.endpoints if e.url != endpoint.url] + [endpoint]
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> bool:
        before = len(self.endpoints)
        self.endpoints = [e for e in self.endpoints if endpoint_id not in (e.id, e.url)]
        return len(self.endpoints) != before

    def find_endpoint(self, ref: str) -> WebhookEndpoint | None:
        return next((e for e in self.endpoints if ref in (e.id, e.url)), None)

    def set_faults(self, endpoint_id: str, faults: Faults) -> FaultState:
        state = FaultState(faults)
        self.faults[endpoint_id] = state
        return state

    def clear_faults(self) -> None:
        self.faults.clear()

    def _faults_for(self, endpoint: WebhookEndpoint) -> FaultState | None:
        return self.faults.get(endpoint.id) or self.faults.get(ALL_ENDPOINTS)

    def targets(self, event_type: str) -> list[WebhookEndpoint]:
        return [
            e
            for e in self.endpoints
            if any(fnmatch.fnmatchcase(event_type, p) for p in e.enabled_events)
        ]

    # -- scheduling ------------------------------------------------------------

    def dispatch(self, event: dict[str, Any], endpoints: list[WebhookEndpoint]) -> None:
        for endpoint in endpoints:
            self._submit(Delivery(event, endpoint))

    def resend(self, event: dict[str, Any], endpoints: list[WebhookEndpoint]) -> None:
        for endpoint in endpoints:
            self._submit(Delivery(event, endpoint, resend=True))

    def _submit(self, delivery: Delivery) -> None:
        state = self._faults_for(delivery.endpoint)
        copies = [delivery]
        if state and state.roll_duplicate():
            copies.append(replace(delivery, duplicate=True, id=""))
        for item in copies:
            self._pending.add(item.id)
            if state and state.faults.shuffle_window > 1 and not item.resend:
                self._hold(item, state)
            else:
                self._spawn(self._run(item))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _hold(self, delivery: Delivery, state: FaultState) -> None:
        key = delivery.endpoint.id
        batch = self._held.setdefault(key, [])
        batch.append(delivery)
        if len(batch) >= state.faults.shuffle_window:
            self._release(key, state)
        elif len(batch) == 1:
            self._spawn(self._release_later(key, batch, state))

    async def _release_later(self, key: str, batch: list[Delivery], state: FaultState) -> None:
        await asyncio.sleep(state.faults.shuffle_hold_ms / 1000)
        # Only release the batch this timer was started for, if still held.
        if self._held.get(key) is batch:
            self._release(key, state)

    def _release(self, key: str, state: FaultState) -> None:
        batch = self._held.pop(key, [])
        state.rng.shuffle(batch)
        self._spawn(self._run_in_order(batch))

    async def _run_in_order(self, batch: list[Delivery]) -> None:
        # One after the other, so the receiver sees exactly the shuffled order.
        for delivery in batch:
            await self._run(delivery)

    # -- delivering --------------------------------------------------------------

    async def _run(self, delivery: Delivery) -> None:
        try:
            max_attempts = max(1, self.config.max_attempts)
            for attempt in range(1, max_attempts + 1):
                delay = self.config.retry_base_delay * 2 ** (attempt - 1)
                last = attempt == max_attempts
                ok = await self._attempt(delivery, attempt, None if last else delay)
                if ok:
                    if self._on_delivered:
                        self._on_delivered(delivery.event["id"], delivery.endpoint.id)
                    return
                if not last:
                    await asyncio.sleep(delay)
        finally:
            self._pending.discard(delivery.id)

    async def _attempt(self, delivery: Delivery, attempt: int, retry_in: float | None) -> bool:
        state = self._faults_for(delivery.endpoint)
        if state and state.faults.delay_ms:
            await asyncio.sleep(state.faults.delay_ms / 1000)
        started = time.time()
        signature: str | None = None
        if state and state.take_drop():
            outcome = _Outcome(False, error="dropped (fault injection)", fault="drop_first")
        else:
            payload = json.dumps(delivery.event, indent=2)
            # The real clock, not the emulator's (possibly advanced) one: receivers
            # compare this timestamp with their own time.
            signature = signature_header(payload, delivery.endpoint.secrets(), int(time.time()))
            outcome = await self._post(delivery.endpoint, payload, signature)
            if outcome.ok and state and state.take_timeout():
                outcome = _Outcome(
                    False,
                    error="timeout (fault injection: the answer was discarded)",
                    fault="timeout_first",
                )
        finished = time.time()
        self.log.add(
            DeliveryAttempt(
                id=new_id("wda_"),
                event_id=delivery.event["id"],
                event_type=delivery.event["type"],
                endpoint_id=delivery.endpoint.id,
                endpoint_url=delivery.endpoint.url,
                attempt=attempt,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=outcome.error,
                fault=outcome.fault,
                duplicate=delivery.duplicate,
                resend=delivery.resend,
                started_at=started,
                finished_at=finished,
                latency_ms=round((finished - started) * 1000, 3),
                next_retry_in=None if outcome.ok else retry_in,
                signature=signature,
            )
        )
        return outcome.ok

    async def _post(self, endpoint: WebhookEndpoint, payload: str, signature: str) -> _Outcome:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": _USER_AGENT,
            "Cache-Control": "no-cache",
            "Accept": "*/*; q=0.5, application/xml",
        }
        request = self._http(endpoint.transport).post(
            endpoint.url,
            content=payload.encode(),
            headers=headers,
            timeout=self.config.delivery_timeout,
        )
        try:
            if endpoint.transport is None:
                response = await request
            else:
                response = await self._in_process(request)
        except (httpx.TimeoutException, TimeoutError):
            return _Outcome(False, error="timeout")
        except httpx.HTTPError as exc:
            return _Outcome(False, error=f"connection error: {type(exc).__name__}: {exc}")
        except Exception as exc:  # an injected transport may raise anything: it did not answer
            return _Outcome(False, error=f"transport error: {type(exc).__name__}: {exc}")
        # Stripe treats only 2xx as delivered; redirects are failures too.
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        return _Outcome(ok, status_code=response.status_code, error=error)

    async def _in_process(self, request: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
        # An in-process transport ignores httpx's timeouts, so the deadline is kept here. As
        # over the network, giving up on the answer does not stop the receiver: the request
        # runs on (shielded) and only its answer is lost.
        task = asyncio.get_running_loop().create_task(request)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.config.delivery_timeout)
        except (TimeoutError, asyncio.CancelledError):  # the answer is not awaited any more
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            task.add_done_callback(_ignore_outcome)
            raise

    def _http(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            # A client belongs to the loop that made it; the app may be served by a
            # different loop later (tests start and stop servers), so make new ones.
            self._clients = {}
            self._client_loop = loop
        key = id(transport)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(follow_redirects=False, transport=transport)
            self._clients[key] = client
        return client

    # -- waiting and resetting ---------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def wait_idle(self, within: float) -> bool:
        """True once nothing is in flight, waiting for a retry, or held back."""
        deadline = time.monotonic() + within
        while self._pending:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def reset(self, endpoints: list[WebhookEndpoint] | None = None) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self._pending.clear()
        self._held.clear()
        self.faults.clear()
        self.log.clear()
        if endpoints is not None:
            self.endpoints = list(endpoints)

    async def aclose(self) -> None:
        for task in [*self._tasks, *self._late]:
            task.cancel()
        if self._client_loop is asyncio.get_running_loop():
            for client in self._clients.values():
                await client.aclose()
        self._clients = {}


def _ignore_outcome(task: asyncio.Task[httpx.Response]) -> None:
    # A request whose answer nobody waits for any more (a timeout): its error was already
    # recorded as that timeout; retrieving it keeps asyncio from reporting it again.
    if not task.cancelled():
        task.exception()
