"""Security headers on every response.

- `X-Content-Type-Options: nosniff` and `X-Frame-Options: DENY` everywhere; on HTML also a CSP
  `frame-ancestors 'none'` (added to the page's own CSP if it has one).
- `Cache-Control: no-store` on every /api/ response (tokens, balances and payments must never
  sit in a shared or browser cache) unless the route chose its own.
- `Strict-Transport-Security` when HSTS_MAX_AGE_SECONDS is set (only behind HTTPS).

The `Server` header is uvicorn's, switched off where uvicorn is configured (see `SERVER_OPTIONS`).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every place that runs the app under uvicorn passes these (cli serve, demo, tests).
SERVER_OPTIONS = {"server_header": False}
FRAME_ANCESTORS = "frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts_max_age: int = 0, no_store_prefix: str = "/api/"):
        self.app = app
        self.hsts = f"max-age={hsts_max_age}; includeSubDomains" if hsts_max_age > 0 else None
        self.no_store_prefix = no_store_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(self.no_store_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), no_store=no_store)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, *, no_store: bool) -> None:
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        if headers.get("content-type", "").startswith("text/html"):
            csp = headers.get("content-security-policy")
            if csp is None:
                headers["Content-Security-Policy"] = FRAME_ANCESTORS
            elif "frame-ancestors" not in csp:
                headers["Content-Security-Policy"] = f"{csp.rstrip('; ')}; {FRAME_ANCESTORS}"
        if no_store and "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"
        if self.hsts is not None:
            headers["Strict-Transport-Security"] = self.hsts
