"""A Stripe that answers only when the test says so: a proxy in front of the emulator.

Requests matching a held route wait at a gate until `release()`; everything else passes
straight through. A route held for its response (`hold_response`) reaches Stripe at once and
only its answer waits at the gate: Stripe has done the work, the caller does not know yet.
The test sees when a request is parked (`wait_until_held`), so it can look at the database
(or kill the caller) while a Stripe call is in flight without depending on how long anything
takes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Self

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stripe_emulator.testing import ThreadedServer

# Hop-by-hop or re-computed headers: never copied across the proxy.
_SKIPPED = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class SlowStripe:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._held_routes: list[tuple[str, str]] = []
        self._held_responses: list[tuple[str, str]] = []
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()
        self.held = 0  # requests parked at the gate right now

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._handle(scope, receive, send)  # a plain function: uvicorn sees ASGI 3

        self._server = ThreadedServer(app)

    @property
    def url(self) -> str:
        return self._server.url

    def hold(self, method: str, path_prefix: str) -> None:
        """From now on, park requests of this method whose path starts with the prefix."""
        with self._lock:
            self._held_routes.append((method.upper(), path_prefix))
            self._gate.clear()

    def hold_response(self, method: str, path_prefix: str) -> None:
        """From now on, send such requests on to Stripe at once and park their answers."""
        with self._lock:
            self._held_responses.append((method.upper(), path_prefix))
            self._gate.clear()

    def release(self) -> None:
        with self._lock:
            self._held_routes.clear()
            self._held_responses.clear()
            self._gate.set()

    def wait_until_held(self, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.held < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {count} Stripe request(s) reached the gate")
            time.sleep(0.01)

    def _is_held(self, method: str, path: str, routes: list[tuple[str, str]] | None = None) -> bool:
        with self._lock:
            held = self._held_routes if routes is None else routes
            return any(method == m and path.startswith(p) for m, p in held)

    async def _park(self) -> None:
        with self._lock:
            self.held += 1
        try:
            await asyncio.to_thread(self._gate.wait, 60)
        finally:
            with self._lock:
                self.held -= 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to set up
            if scope["type"] == "lifespan":
                while (message := await receive())["type"] != "lifespan.shutdown":
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        if self._is_held(request.method, request.url.path):
            await self._park()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED}
        async with httpx.AsyncClient(timeout=30) as http:
            upstream = await http.request(
                request.method,
                f"{self.upstream}{request.url.path}",
                params=request.url.query,
                headers=headers,
                content=await request.body(),
            )
        if self._is_held(request.method, request.url.path, self._held_responses):
            await self._park()
        reply = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIPPED}
        await Response(upstream.content, upstream.status_code, reply)(scope, receive, send)

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
