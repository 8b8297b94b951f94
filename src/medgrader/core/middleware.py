"""Request guards that run before routing: NUL characters in the URL, body size and JSON
content type.

Bodies are small in this API (1 MiB at most), so the guard reads the body once, refuses it
early when it is too big or not JSON, and replays it to the application.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medgrader.core.schemas import NUL_MESSAGE

JSON_METHODS = {b"POST", b"PUT", b"PATCH"}


async def _reply(send: Send, status: int, message: str, code: str) -> None:
    body = json.dumps({"error": message, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _nul_query_parameter(query_string: bytes) -> str | None:
    """The name of the first query parameter holding a NUL character, if any.

    PostgreSQL text cannot hold U+0000, so a NUL that reached a statement would be a DataError;
    no parameter of this API can legitimately carry one.
    """
    if b"%00" not in query_string and b"\x00" not in query_string:  # the common case: cheap
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None  # "%00" that does not decode to a NUL (the DataError backstop covers the rest)


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        json_prefix: str = "/api/",
        raw_body_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefix = json_prefix
        # Paths whose body is not ours to type-check (Stripe signs bytes, not a media type).
        self.raw_body_paths = raw_body_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Every path parameter here is an id, and no route or id contains a NUL: 404, as for
        # any other malformed id (and no statement ever sees it).
        if "\x00" in scope["path"]:
            await _reply(send, 404, "Not found (the path contains a NUL character).", "not_found")
            return
        nul_parameter = _nul_query_parameter(scope["query_string"])
        if nul_parameter is not None:
            await _reply(send, 422, f"{nul_parameter}: {NUL_MESSAGE}", "validation_error")
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, "Invalid Content-Length header.", "bad_request")
                return
            if int(declared) > self.max_body_bytes:
                await _reply(send, 413, "Request body is larger than 1 MiB.", "payload_too_large")
                return

        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _reply(send, 413, "Request body is larger than 1 MiB.", "payload_too_large")
                return

        path: str = scope["path"]
        if (
            body
            and scope["method"].encode() in JSON_METHODS
            and path.startswith(self.json_prefix)
            and not path.startswith(self.raw_body_paths)
            and not _is_json(headers.get(b"content-type", b""))
        ):
            await _reply(
                send,
                415,
                "Send the body as JSON (Content-Type: application/json).",
                "unsupported_media_type",
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
