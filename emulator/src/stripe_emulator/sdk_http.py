"""The official SDK's HTTP client interface over an ``httpx.AsyncClient`` of your own.

stripe-python (16.1.0) takes any :class:`stripe.HTTPClient` subclass as
``StripeClient(http_client=...)``, but its own ``HTTPXClient`` always builds its
``httpx.AsyncClient`` itself, so it cannot be given a transport. This class is that
interface (the one the SDK documents for custom clients) over a client you built, for
example ``httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator_app))``: the SDK
then reaches the emulator in-process, without a socket.

Only the async methods work (``create_async``, ``retrieve_async``...): an ASGI app runs on
the caller's event loop, which a blocking call would stall. Transport failures become
``stripe.APIConnectionError`` (retryable), as with the SDK's own clients, so the SDK's
retries and the caller's error handling behave as over the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Mapping
from typing import Any, NoReturn

import httpx
import stripe


class AsyncHTTPXTransportClient(stripe.HTTPClient):
    name = "httpx-injected"

    def __init__(
        self, http: httpx.AsyncClient, *, timeout: float | None = 80.0, owns_client: bool = True
    ) -> None:
        super().__init__()
        self._http = http
        self._timeout = timeout
        self._owns_client = owns_client

    def _request_kwargs(self, headers: Mapping[str, str], post_data: Any) -> dict[str, Any]:
        return {"headers": dict(headers), "content": post_data or None, "timeout": self._timeout}

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(
                method, url, **self._request_kwargs(headers, post_data)
            )
        except Exception as exc:
            self._connection_error(exc)
        return response.content, response.status_code, response.headers

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterable[bytes], int, Mapping[str, str]]:
        request = self._http.build_request(method, url, **self._request_kwargs(headers, post_data))
        try:
            response = await self._http.send(request, stream=True)
        except Exception as exc:
            self._connection_error(exc)
        return response.aiter_bytes(), response.status_code, response.headers

    def sleep_async(self, secs: float) -> Any:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("this Stripe HTTP client is async only: call the SDK's *_async methods")

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        self.request()

    def close(self) -> None:
        """Nothing blocking to close; close_async closes the httpx client."""

    @staticmethod
    def _connection_error(exc: Exception) -> NoReturn:
        # As the SDK's own HTTPXClient does: any failure to get an answer is a connection
        # error the SDK may retry.
        message = f"Unexpected error communicating with Stripe. ({type(exc).__name__}: {exc})"
        raise stripe.APIConnectionError(message, should_retry=True) from exc
