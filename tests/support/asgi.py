"""httpx transports that reach an ASGI app running on a LoopThread: no socket, no server.

`LoopTransport` is for blocking httpx.Client (and so for the tests' `client` fixture, whose
interface stays httpx.Client's); `AsyncLoopTransport` for httpx.AsyncClient in async tests,
whose own loop is not the app's. Each request runs through `httpx.ASGITransport` on the app's
loop; concurrent requests (threads, gathered tasks) run concurrently there, each with its own
database connection, as under a server. An exception the app does not handle answers 500, as
a server would, instead of surfacing in the test.
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

from tests.support.loop import LoopThread

# What the app sees as the peer (the address the rate limits count).
CLIENT_ADDRESS = ("127.0.0.1", 50000)


async def _call(asgi: httpx.ASGITransport, request: httpx.Request, body: bytes) -> httpx.Response:
    """One request through the ASGI app; the response read whole (raw, still encoded)."""
    inner = httpx.Request(
        request.method,
        request.url,
        headers=request.headers,
        content=body,
        extensions=request.extensions,
    )
    response = await asgi.handle_async_request(inner)
    raw = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
    await response.aclose()
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(raw),
        extensions=response.extensions,
    )


class LoopTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp, loop: LoopThread, *, timeout: float = 60) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=CLIENT_ADDRESS)
        self._loop = loop
        self._timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return self._loop.run(_call(self._asgi, request, body), self._timeout)


class AsyncLoopTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp, loop: LoopThread) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=CLIENT_ADDRESS)
        self._loop = loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return await self._loop.run_from(_call(self._asgi, request, body))
