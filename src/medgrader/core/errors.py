"""Typed refusals (one class per machine code), and the one place that renders every error.

Every failure leaves as `{"error": "<human message>", "code": "<machine_code>"}`; nothing
internal (a stack trace, a SQL statement) ever reaches the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from medgrader.core.request_context import RequestContextMiddleware
from medgrader.core.statuses import status_of

log = structlog.get_logger(__name__)


class AppError(Exception):
    """A typed refusal: one class per machine code, carrying its message and any extra fields
    of its body (e.g. `refundableAmount`). Its HTTP status is not here: core.statuses maps
    every code to one status, for the JSON API and the pages alike.

    A subclass that names its own `code` is THE class of that code (`by_code`); a subclass
    without one specialises its parent's (e.g. a gateway error that callers catch apart).
    """

    # Each concrete class names its own code (AppError and Refusal are only bases).
    code: ClassVar[str]
    message: ClassVar[str] = "The request could not be processed."
    # Headers every answer of this class carries (e.g. WWW-Authenticate on a 401).
    default_headers: ClassVar[dict[str, str] | None] = None
    by_code: ClassVar[dict[str, type[AppError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            AppError.by_code[cls.code] = cls

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        self.message = message or type(self).message
        self.headers = headers if headers is not None else type(self).default_headers
        # Extra members of the body, by their JSON names (camelCase), e.g. refundableAmount.
        self.fields = fields
        # Set by the idempotent runner: the first answer under this key, given again.
        self.replayed = False
        # Set when the refusal is an answer whose writes must stay (a recorded idempotent
        # refusal, a counted wrong code): the unit of work commits instead of rolling back.
        self.keep_transaction = False
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.fields}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> AppError:
        """The refusal a stored body stands for (a replay answers exactly what was stored)."""
        fields = {k: v for k, v in body.items() if k not in ("error", "code")}
        error_class = AppError.by_code.get(str(body.get("code")), Refusal)
        error = error_class.__new__(error_class)
        AppError.__init__(error, str(body.get("error") or error_class.message), **fields)
        if getattr(error, "code", None) != body.get("code"):  # a code no class claims any more
            error.code = str(body.get("code"))  # type: ignore[misc]
        return error


class Refusal(AppError):
    """A well-formed request that a business rule refuses (not enough credits, a hold that
    expired, a refund beyond what is left). An idempotent operation records it and replays it
    (medgrader.idempotency.runner). Other AppErrors say the request itself is wrong or names
    nothing (validation, not found, authentication): nothing is recorded for them."""


class BadRequest(AppError):
    code = "bad_request"


class Unauthorized(AppError):
    code, message = "unauthorized", "Authentication required."
    default_headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    code, message = "forbidden", "You are not allowed to do this."


class NotFound(AppError):
    code, message = "not_found", "Not found."


class Conflict(AppError):
    code = "conflict"


class Unprocessable(AppError):
    code = "validation_error"


class RateLimited(AppError):
    """Too many requests: 429 with Retry-After (the seconds until the limit's window ends)."""

    code, message = "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(retry_after, 1))})


class BadGateway(AppError):
    code = "upstream_error"


class ServiceUnavailable(AppError):
    code = "service_unavailable"


REPLAYED_HEADER = "Idempotent-Replayed"


def replayed_header(replayed: bool) -> dict[str, str] | None:
    """`Idempotent-Replayed: true` on an answer given again under its Idempotency-Key."""
    return {REPLAYED_HEADER: "true"} if replayed else None


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _describe_validation_error(error: dict[str, Any]) -> str:
    # loc is like ("body", "amount") or ("query", "limit"); name the field, not the plumbing.
    location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
    field = ".".join(
        location[1:] if location[:1] in (["query"], ["path"], ["header"]) else location
    )
    message = str(error.get("msg", "is invalid"))
    return f"{field}: {message}" if field else message


def refusal_response(exc: AppError) -> JSONResponse:
    """The answer to a refusal: its status from the one table, its body, its headers, and
    `Idempotent-Replayed: true` when it repeats the first answer under an Idempotency-Key."""
    headers = dict(exc.headers or {})
    if exc.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(exc.body(), status_code=status_of(exc), headers=headers or None)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return refusal_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return error_response(400, "The request body is not valid JSON.", "invalid_json")
    message = "; ".join(_describe_validation_error(e) for e in errors[:5])
    return error_response(422, message or "Invalid request.", "validation_error")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path. Starlette's 405 names only the first route
    that matched the path (GET /x when POST /x is a second route), so Allow would lie."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if not isinstance(context.original_route, Route) or not context.methods:
            continue
        path_regex, _, _ = compile_path(context.path)
        if path_regex.match(request.url.path):
            methods |= set(context.methods)
    return ", ".join(sorted(methods)) if methods else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "No such route."
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        if allow is not None:
            headers = {**(headers or {}), "Allow": allow}
    return error_response(exc.status_code, message, code, headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return error_response(500, "Internal server error.", "internal_error")


INVALID_VALUE_MESSAGE = "A value in the request cannot be stored (e.g. a NUL character)."


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """Backstop for input that validation let through but PostgreSQL refuses (SQLSTATE class
    22, e.g. a NUL character in text): the request's transaction has rolled back, so nothing
    was written. A 422, logged with the traceback (it may also be a bug of ours), with neither
    the statement nor the database's message sent to the client.

    Any other database error is a 500.
    """
    if not isinstance(exc, psycopg.DataError):
        return await _unhandled(request, exc)
    log.warning(
        "database refused a value",
        path=request.url.path,
        method=request.method,
        sqlstate=exc.sqlstate,
        exc_info=exc,
    )
    return error_response(422, INVALID_VALUE_MESSAGE, "invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """The typed handlers, and the request-context middleware that answers (and logs, once)
    whatever else escapes. No handler for `Exception` itself: Starlette would run it and then
    re-raise the exception to the server, which logs it a second time."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_middleware(RequestContextMiddleware)
