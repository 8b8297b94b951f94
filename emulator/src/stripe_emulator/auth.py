"""API keys and the per-request context of ``/v1/`` calls.

Every ``/v1/`` request needs ``Authorization: Bearer sk_test_...`` (HTTP basic auth
with the key as user name works too, as on Stripe). Live keys are refused: this is a
test-mode-only Stripe. Each request gets a ``req_...`` id, answered in the
``Request-Id`` header and recorded on the events it causes.
"""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stripe_emulator.asgi import route_path
from stripe_emulator.config import EmulatorConfig
from stripe_emulator.core import RequestContext
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.responses import send_error

_TEST_PREFIXES = ("sk_test_", "rk_test_")

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


def _redact(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"


def extract_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def check_key(config: EmulatorConfig, key: str | None) -> str:
    if key is None:
        raise StripeError(_NO_KEY, status=401)
    if config.api_keys is not None:
        valid = key in config.api_keys
    else:
        valid = key.startswith(_TEST_PREFIXES) and len(key) > len("sk_test_")
    if not valid:
        message = f"Invalid API Key provided: {_redact(key)}"
        if key.startswith(("sk_live_", "rk_live_")):
            message += " (the Stripe emulator only accepts test-mode keys)"
        raise StripeError(message, status=401, code="api_key_invalid")
    return key


class StripeApiMiddleware:
    """Authenticates ``/v1/`` calls and tags them with a request id and API version."""

    def __init__(self, app: ASGIApp, config: EmulatorConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = new_id("req_")
        version = headers.get("stripe-version") or self.config.api_version
        extra = {"Request-Id": request_id, "Stripe-Version": version}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": raw}
            await send(message)

        try:
            key = check_key(self.config, extract_key(headers.get("authorization")))
        except StripeError as exc:
            await send_error(send, exc, {**extra, "WWW-Authenticate": 'Basic realm="Stripe"'})
            return
        state = scope.setdefault("state", {})
        state["api_key"] = key
        state["stripe"] = RequestContext(
            request_id=request_id,
            idempotency_key=headers.get("idempotency-key"),
            api_version=version,
        )
        await self.app(scope, receive, send_with_headers)
