"""The OpenAPI document, made exact in one place.

FastAPI documents a route's success and a `{"detail": [...]}` 422; this API answers every
error as `{"error", "code"}` and has a few statuses that come from shared machinery rather
than from the route's own code. Rather than repeat them on every route, the document is
post-processed from what each route is made of:

- every 4xx/5xx response (declared by the route or added here) uses the `Error` schema;
- a JSON body may answer 400 `invalid_json`, 413 (over MAX_BODY_BYTES) and 415 (not JSON);
- any parameter or body may answer 422 `validation_error`;
- a path parameter (always an id here) may answer 404;
- a route that depends on the bearer token answers 401 (and is marked as needing it); one that
  depends on a role gate also answers 403; a route that merely looks at an optional token is
  marked as working with or without one;
- a route that counts against an abuse limit answers 429 with Retry-After;
- a query string may not hold NUL (the request guard answers 422), which string parameters say;
- `Idempotency-Key` headers carry the exact format the server enforces, and are required where
  the route says so (`idempotency_key_required()`).

Routes still declare their own domain answers (402, 409, 502, ...) with `responses=`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from medgrader.core.schemas import NO_NUL_PATTERN

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "A message for people"},
        "code": {"type": "string", "description": "A stable machine-readable code"},
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {
    "description": "Seconds until the limit's window ends",
    "schema": {"type": "integer", "minimum": 1},
    "required": True,
}
DESCRIPTIONS = {
    400: "Bad request (e.g. invalid_json)",
    401: "Missing, invalid, expired or revoked access token",
    403: "The token's user may not do this",
    404: "Not found",
    413: "Request body over the size limit",
    415: "The body is not JSON",
    422: "validation_error: a field is missing or out of bounds",
    429: "rate_limited: too many requests; see Retry-After",
}
_KEY_REQUIRED = "x-medgrader-idempotency-key-required"


def idempotency_key_required() -> dict[str, Any]:
    """`openapi_extra` for a route whose Idempotency-Key header is required (400 without)."""
    return {_KEY_REQUIRED: True}


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own error answers, e.g. errors(404, 409, s409="...")."""
    return {
        status: {"description": descriptions.get(f"s{status}", DESCRIPTIONS.get(status, "Error"))}
        for status in statuses
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


class Markers:
    """What a route is made of, named by the dependencies that decide its extra statuses
    (given by the app, so that this module imports no domain)."""

    def __init__(
        self,
        *,
        token_required: set[Callable[..., Any]],
        token_optional: set[Callable[..., Any]],
        role_gates: set[Callable[..., Any]],
        rate_limited: set[Callable[..., Any]],
        idempotency_key_schema: dict[str, Any],
    ) -> None:
        self.token_required = token_required
        self.token_optional = token_optional
        self.role_gates = role_gates
        self.rate_limited = rate_limited
        # The Idempotency-Key's exact format (idempotency.keys owns it).
        self.idempotency_key_schema = idempotency_key_schema


def _sub_dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _sub_dependants(sub)


def _inferred_statuses(route: Any, markers: Markers) -> tuple[set[int], str]:
    calls = set(_calls(route.dependant))
    statuses: set[int] = set()
    tree = [route.dependant, *_sub_dependants(route.dependant)]
    if route.body_field is not None:
        statuses |= {400, 413, 415, 422}
    if any(d.query_params or d.header_params or d.path_params or d.body_params for d in tree):
        statuses.add(422)
    if any(d.path_params for d in tree):
        statuses.add(404)
    auth = "none"
    if calls & markers.token_required:
        statuses.add(401)
        auth = "required"
    elif calls & markers.token_optional:
        auth = "optional"
    if calls & markers.role_gates:
        statuses.add(403)
    if calls & markers.rate_limited:
        statuses.add(429)
    return statuses, auth


def _error_response(existing: dict[str, Any] | None, status: int) -> dict[str, Any]:
    response = dict(existing or {})
    if not response.get("description") or response["description"] == "Validation Error":
        response["description"] = DESCRIPTIONS.get(status, "Error")
    response["content"] = {"application/json": {"schema": ERROR_REF}}
    if status == 429:
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


def _fix_operation(
    operation: dict[str, Any], route: Any, markers: Markers, bearer_scheme: str
) -> None:
    statuses, auth = _inferred_statuses(route, markers)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    declared = {int(code) for code in responses if code.isdigit()}
    for status in sorted(statuses | {s for s in declared if s >= 400}):
        responses[str(status)] = _error_response(responses.get(str(status)), status)
    if auth == "required":
        operation["security"] = [{bearer_scheme: []}]
    elif auth == "optional":
        operation["security"] = [{}, {bearer_scheme: []}]
    else:
        operation.pop("security", None)
    key_required = operation.pop(_KEY_REQUIRED, False)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter["name"].lower() == "idempotency-key":
            parameter["schema"] = dict(markers.idempotency_key_schema)
            parameter["required"] = bool(key_required)
        elif parameter.get("in") == "query":
            _no_nul(parameter.get("schema", {}))


def _no_nul(schema: dict[str, Any]) -> None:
    """The request guard refuses a NUL in any query parameter (422): say so."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") == "string" and "pattern" not in option and "enum" not in option:
            option["pattern"] = NO_NUL_PATTERN


def install_openapi(app: FastAPI, markers: Markers) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemes = document.get("components", {}).get("securitySchemes", {})
        bearer_scheme = next(iter(schemes), "HTTPBearer")
        # Included routers are walked as FastAPI's own document generator walks them.
        for context in iter_route_contexts(app.routes):
            route: Any = context
            if not isinstance(context.original_route, APIRoute) or not route.include_in_schema:
                continue
            path_item = document["paths"].get(route.path_format, {})
            for method in route.methods:
                operation = path_item.get(method.lower())
                if operation is not None:
                    _fix_operation(operation, route, markers, bearer_scheme)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Error"] = ERROR_SCHEMA
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
