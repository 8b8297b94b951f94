"""The Stripe emulator in-process, driven from blocking tests.

`InProcessStripe` wraps stripe_emulator's `InProcessEmulator` (running on the fast tier's
LoopThread): every control method of the emulator over HTTP (`pay`, `refund`, `dispute`,
`wait_for_deliveries`, `set_faults`, ...) is here with the same name and arguments, blocking,
so a test reads the same in both tiers. Webhooks reach the app through its ASGI app; an
endpoint added again under the app's URL (after `remove_endpoint`) goes to the app again.
`stripe_client()` is the official SDK, blocking, reaching the emulator through the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import httpx
import stripe
from starlette.types import ASGIApp

from stripe_emulator.testing import InProcessEmulator
from tests.support.asgi import LoopTransport
from tests.support.loop import LoopThread


class LoopStripeHTTPClient(stripe.HTTPClient):
    """The SDK's blocking HTTP client interface over an httpx.Client (here: one whose transport
    reaches the emulator's app on the loop)."""

    name = "httpx-loop"

    def __init__(self, http: httpx.Client) -> None:
        super().__init__()
        self._http = http

    def request(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        response = self._http.request(method, url, headers=dict(headers), content=post_data)
        return response.content, response.status_code, response.headers

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("no streaming endpoint is used by the tests")

    def close(self) -> None:
        """The httpx client belongs to InProcessStripe, which closes it."""


class InProcessStripe:
    def __init__(self, emulator: InProcessEmulator, loop: LoopThread) -> None:
        self._inner = emulator
        self._loop = loop
        self._apps: dict[str, tuple[str | None, ASGIApp]] = {}  # url -> (secret, app)
        self._http = httpx.Client(
            transport=LoopTransport(emulator.app, loop), base_url=emulator.url, timeout=60
        )

    @property
    def url(self) -> str:
        return self._inner.url

    @property
    def control(self) -> InProcessStripe:
        """The control methods (EmulatorServer.control's counterpart: this object)."""
        return self

    @property
    def emulator(self) -> Any:
        """The emulator's state, to read in assertions (it lives on the loop: do not change it
        from the test's thread)."""
        return self._inner.emulator

    def stripe_client(self, api_key: str) -> stripe.StripeClient:
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": self.url},
            http_client=LoopStripeHTTPClient(self._http),
            max_network_retries=0,
        )

    def attach_app(self, url: str, secret: str | None, app: ASGIApp) -> None:
        """Deliver webhooks for `url` to `app` (also after the endpoint is removed and added)."""
        self._apps[url] = (secret, app)
        self._loop.run(self._inner.add_endpoint(url, secret=secret, app=app))

    def add_endpoint(
        self,
        url: str,
        secret: str | None = None,
        secondary_secret: str | None = None,
        enabled_events: list[str] | None = None,
    ) -> Any:
        app = self._apps.get(url, (None, None))[1]
        return self._loop.run(
            self._inner.add_endpoint(url, secret, secondary_secret, enabled_events, app=app)
        )

    def wait_for_deliveries(self, timeout: float = 10.0) -> Any:
        return self._loop.run(self._inner.wait_for_deliveries(timeout), timeout + 10)

    def __getattr__(self, name: str) -> Any:
        # The other control methods (pay, refund, dispute, set_faults, deliveries...): the
        # in-process emulator's, awaited on the loop.
        method = getattr(self._inner, name)
        if not callable(method) or name.startswith("_"):
            raise AttributeError(name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(method(*args, **kwargs))

        return blocking

    def finish_deliveries(self, within: float = 10.0) -> bool:
        """Let the deliveries in flight finish (True), or give up after `within` seconds."""
        return self._loop.run(self._inner.emulator.webhooks.wait_idle(within), within + 10)

    def reset(self) -> None:
        """Forget every object, event, delivery and fault; the attached apps' endpoints stay."""

        async def reset() -> None:
            await self._inner.emulator.webhooks.wait_idle(5.0)
            self._inner.emulator.reset([])
            for url, (secret, app) in self._apps.items():
                await self._inner.add_endpoint(url, secret=secret, app=app)

        self._loop.run(reset())

    def close(self) -> None:
        self._http.close()
