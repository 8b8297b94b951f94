"""``Idempotency-Key`` handling for ``POST /v1/...``, as Stripe does it.

The first response for a key is saved and replayed for later requests with the same
key and the same parameters (with ``Idempotent-Replayed: true``). Reusing a key with
other parameters or on another endpoint is an ``idempotency_error``; reusing it while
the first request still runs is a 409. As on Stripe, a result is saved only once the
endpoint has begun executing: requests refused by validation (400), authentication
(401) or for a missing object (404) are not saved, so they may be retried with the
same key after fixing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stripe_emulator.asgi import route_path
from stripe_emulator.errors import StripeError
from stripe_emulator.responses import send_error

MAX_KEY_LENGTH = 255


@dataclass
class SavedResponse:
    path: str
    params: list[tuple[str, str]]
    request_id: str | None
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    done: bool = False


class IdempotencyCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], SavedResponse] = {}

    def clear(self) -> None:
        self.entries.clear()


def _cacheable(status: int) -> bool:
    # Success, card errors (the charge attempt ran) and server errors are saved.
    return status < 400 or status == 402 or status >= 500


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, cache: IdempotencyCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not route_path(scope).startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        key = Headers(scope=scope).get("idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY_LENGTH:
            await send_error(
                send,
                StripeError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long."),
            )
            return

        body = await _read_body(receive)
        params = sorted(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        state = scope.get("state", {})
        cache_key = (str(state.get("api_key", "")), key)
        saved = self.cache.entries.get(cache_key)
        if saved is not None:
            await self._replay(saved, key, route_path(scope), params, send)
            return

        saved = SavedResponse(path=route_path(scope), params=params, request_id=_request_id(scope))
        self.cache.entries[cache_key] = saved
        try:
            await self.app(scope, _replay_body(body), _capture(send, saved))
        finally:
            if not saved.done or not _cacheable(saved.status):
                self.cache.entries.pop(cache_key, None)

    async def _replay(
        self, saved: SavedResponse, key: str, path: str, params: list[tuple[str, str]], send: Send
    ) -> None:
        if not saved.done:
            await send_error(
                send,
                StripeError(
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    "going through): " + key + ". Please try again later.",
                    status=409,
                    code="idempotency_key_in_use",
                ),
            )
            return
        if saved.path != path:
            await send_error(
                send,
                StripeError(
                    "Keys for idempotent requests can only be used for the same endpoint they "
                    f"were first used for ('{saved.path}' vs '{path}'). Try using a key other "
                    f"than '{key}' if you meant to execute a different request.",
                    type="idempotency_error",
                ),
            )
            return
        if saved.params != params:
            await send_error(
                send,
                StripeError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                ),
            )
            return
        headers = [(k, v) for k, v in saved.headers if k.lower() != b"content-length"]
        headers += [
            (b"content-length", str(len(saved.body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        if saved.request_id:
            headers.append((b"original-request", saved.request_id.encode()))
        await send({"type": "http.response.start", "status": saved.status, "headers": headers})
        await send({"type": "http.response.body", "body": saved.body})


def _request_id(scope: Scope) -> str | None:
    ctx = scope.get("state", {}).get("stripe")
    return getattr(ctx, "request_id", None)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _capture(send: Send, saved: SavedResponse) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            saved.status = message["status"]
            # Per-request headers are not replayed; the outer middleware sets fresh ones.
            saved.headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"request-id"
            ]
        elif message["type"] == "http.response.body":
            saved.body += message.get("body", b"")
            if not message.get("more_body", False):
                saved.done = True
        await send(message)

    return wrapped
