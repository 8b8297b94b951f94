"""Errors on pages answer pages (the JSON API keeps its JSON errors): an anonymous visitor is
sent to /login, a refusal is a 403 page, a bad value a 422 page, never a stack trace."""

from __future__ import annotations

from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.web.deps import LoginRequired
from medgrader.web.rendering import redirect, render

log = structlog.get_logger(__name__)
_API_PATHS = ("/api/", "/health", "/docs", "/openapi.json", "/dev/", "/metrics")


def is_page(request: Request) -> bool:
    endpoint = request.scope.get("endpoint")
    if endpoint is not None:
        # "medgrader.web." with its dot: medgrader.webhooks is the API's.
        return str(getattr(endpoint, "__module__", "")).startswith("medgrader.web.")
    return not request.url.path.startswith(_API_PATHS)


def _error_page(request: Request, status: int, message: str, code: str) -> Response:
    return render(request, "error.html", status_code=status, message=message, code=code)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return redirect(request, f"/login?next={quote(exc.next_path, safe='/')}")


def install_page_errors(app: FastAPI) -> None:
    """Wrap the API's handlers: the same errors, rendered as pages on page routes."""
    api_app_error = app.exception_handlers[AppError]
    api_http_error = app.exception_handlers[StarletteHTTPException]
    api_validation = app.exception_handlers[RequestValidationError]

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if not is_page(request):
            return await api_app_error(request, exc)
        return _error_page(request, status_of(exc), exc.message, exc.code)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_page(request):
            return await api_http_error(request, exc)
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message, "error")

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_page(request):
            return await api_validation(request, exc)
        return _error_page(request, 422, "Some of the values sent are not valid.", "invalid")

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
