"""Each request's id, and the one place an unhandled error is logged and answered.

The request id comes from a sane `X-Request-ID` header (a proxy's) or is made up here; it is
bound to every log line of the request and sent back in the response's `X-Request-ID`.

An exception that no handler turned into a response is logged here, once, with the request id
and the traceback, and answered with the usual 500 body. It is not re-raised: Starlette's
ServerErrorMiddleware would then hand it to uvicorn, which logged the same error a second time
("Exception in ASGI application") without the request id.
"""

from __future__ import annotations

import json
import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_INTERNAL_ERROR = json.dumps({"error": "Internal server error.", "code": "internal_error"}).encode()


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SANE_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception(
                    "unhandled error",
                    request_id=request_id,  # also bound, but explicit: this line must carry it
                    path=scope.get("path"),
                    method=scope.get("method"),
                )
                if started:  # the response is half sent: all we can do is end it
                    return
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                        ],
                    }
                )
                await send_with_id({"type": "http.response.body", "body": _INTERNAL_ERROR})
