"""The emulator in the caller's own event loop, reached without a socket.

    async with InProcessEmulator() as stripe_emulator:
        client = stripe_emulator.stripe_client("sk_test_x")      # the official SDK, *_async
        session = await client.v1.checkout.sessions.create_async(params={...})
        await stripe_emulator.add_endpoint(
            "http://app.test/api/webhooks/stripe", secret="whsec_...", app=asgi_app
        )
        await stripe_emulator.pay(session.id)        # the control API, awaited
        await stripe_emulator.wait_for_deliveries()  # the app got checkout.session.completed

Everything goes through ``httpx.ASGITransport``: the SDK (through
:class:`~stripe_emulator.sdk_http.AsyncHTTPXTransportClient`), the control methods (the
same ``/_emulator/`` routes and answers as :class:`~stripe_emulator.testing.EmulatorServer`
over HTTP, awaited), and webhooks to endpoints registered with an ``app`` or a
``transport``. It is the same :class:`~stripe_emulator.core.Emulator` and the same app as
the server's: one state model, one behaviour; only the wire is missing. Deliveries run as
tasks on the loop that emitted them, so the caller's loop must keep running (await, do not
block) while they do.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

import httpx
import stripe
from starlette.types import ASGIApp

from stripe_emulator.app import create_app
from stripe_emulator.client import AsyncEmulatorControl
from stripe_emulator.config import EmulatorConfig, WebhookEndpoint
from stripe_emulator.core import Emulator
from stripe_emulator.sdk_http import AsyncHTTPXTransportClient

# The default base of an in-process emulator: a name no one serves (.test is reserved), so a
# client that tries the network by mistake fails at once instead of reaching a real emulator
# (a demo on 12111) and passing by accident.
IN_PROCESS_URL = "http://stripe-emulator.test"


class InProcessEmulator(AsyncEmulatorControl):
    """An emulator app on the running event loop; every control method is awaited."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        self.config = replace(config or EmulatorConfig(public_url=IN_PROCESS_URL), **overrides)
        self.emulator = Emulator(self.config)
        self.app = create_app(emulator=self.emulator)
        self.transport = httpx.ASGITransport(app=self.app)
        super().__init__(self.config.base_url, transport=self.transport)
        self._running = AsyncExitStack()
        self._sdk_clients: list[AsyncHTTPXTransportClient] = []

    @property
    def url(self) -> str:
        """The API base to give the SDK (and the hosted pages' base); nothing listens there:
        requests reach the app through :attr:`transport`."""
        return self.base_url

    def sdk_http_client(self, timeout: float | None = 80.0) -> stripe.HTTPClient:
        """An HTTP client for ``stripe.StripeClient(http_client=...)`` that reaches this
        emulator in-process. Closed by :meth:`stop`, not by whoever uses it."""
        http = httpx.AsyncClient(transport=self.transport)
        client = AsyncHTTPXTransportClient(http, timeout=timeout)
        self._sdk_clients.append(client)
        return client

    def stripe_client(self, api_key: str = "sk_test_in_process", **options: Any) -> Any:
        """The official SDK pointed at this emulator (use its ``*_async`` methods)."""
        options.setdefault("max_network_retries", 0)  # a test sees the first answer
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": self.url},
            http_client=self.sdk_http_client(),
            **options,
        )

    def http(self) -> httpx.AsyncClient:
        """A plain httpx client on the emulator (the hosted page, raw ``/v1`` calls); the
        caller closes it."""
        return httpx.AsyncClient(transport=self.transport, base_url=self.url)

    async def add_endpoint(
        self,
        url: str,
        secret: str | None = None,
        secondary_secret: str | None = None,
        enabled_events: list[str] | None = None,
        *,
        app: ASGIApp | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Any:
        """Add (or replace, by URL) a webhook endpoint; returns it as the control API does.

        With ``app`` (an ASGI app in this process) or ``transport``, events are POSTed to
        ``url`` through it, no socket; an app that raises answers 500, as under a server.
        Without either, the endpoint is a URL on the network, as over HTTP.
        """
        if app is not None:
            if transport is not None:
                raise ValueError("give an app or a transport, not both")
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        if transport is None:
            return await super().add_endpoint(url, secret, secondary_secret, enabled_events)
        endpoint = WebhookEndpoint(
            url=url,
            secondary_secret=secondary_secret,
            enabled_events=list(enabled_events or ["*"]),
            transport=transport,
        )
        if secret is not None:
            endpoint.secret = secret
        return self.emulator.webhooks.add_endpoint(endpoint).as_dict()

    async def start(self) -> Self:
        """Run the app's lifespan: the sweep that expires sessions and settles refunds as
        time passes, as the server does."""
        await self._running.enter_async_context(self.app.router.lifespan_context(self.app))
        return self

    async def stop(self) -> None:
        """End the lifespan (deliveries in flight are cancelled), close every client."""
        await self._running.aclose()
        for client in self._sdk_clients:
            await client.close_async()
        self._sdk_clients.clear()
        await self.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
