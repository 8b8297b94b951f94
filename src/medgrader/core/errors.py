"""Typed errors that carry their HTTP status, and the one place that renders every error.

Every failure leaves as `{"error": "<human message>", "code": "<machine_code>"}`; nothing
internal (a stack trace, a SQL statement) ever reaches the client.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from medgrader.core.request_context import RequestContextMiddleware

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        if code is not None:
            self.code = code
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    status_code, code = 400, "bad_request"


class Unauthorized(AppError):
    status_code, code, message = 401, "unauthorized", "Authentication required."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(AppError):
    status_code, code, message = 404, "not_found", "Not found."


class Conflict(AppError):
    status_code, code = 409, "conflict"


class PaymentRequired(AppError):
    status_code, code = 402, "payment_required"


class Unprocessable(AppError):
    status_code, code = 422, "validation_error"


class TooManyRequests(AppError):
    status_code, code, message = 429, "rate_limited", "Too many requests; try again later."


class BadGateway(AppError):
    status_code, code = 502, "upstream_error"


class ServiceUnavailable(AppError):
    status_code, code = 503, "service_unavailable"


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


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.message, exc.code, exc.headers)


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

    psycopg's DataError arrives bare from the lean path (medgrader.db.lean) and wrapped in
    SQLAlchemy's DBAPIError from an ORM session; any other database error is a 500.
    """
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(cause, psycopg.DataError):
        return await _unhandled(request, exc)
    log.warning(
        "database refused a value",
        path=request.url.path,
        method=request.method,
        sqlstate=cause.sqlstate,
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
    app.add_exception_handler(DBAPIError, _data_error)
    app.add_middleware(RequestContextMiddleware)
