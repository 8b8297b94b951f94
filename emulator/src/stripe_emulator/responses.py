"""JSON responses formatted like Stripe's (pretty-printed), and error rendering."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from stripe_emulator.errors import StripeError


class StripeJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, indent=2, ensure_ascii=False).encode("utf-8")


def error_response(error: StripeError, headers: dict[str, str] | None = None) -> StripeJSONResponse:
    return StripeJSONResponse(error.body(), status_code=error.status, headers=headers)


async def stripe_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StripeError)
    return error_response(exc)


async def send_error(send: Send, error: StripeError, headers: dict[str, str] | None = None) -> None:
    """Send a Stripe error from raw ASGI middleware (outside the router)."""
    body = json.dumps(error.body(), indent=2).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
