"""A NUL character (U+0000) can never reach PostgreSQL, whose text refuses it.

Three layers: every request string type refuses it (422 naming the field); the request guard
refuses it in the URL path (404) and the query string (422) before routing; and a DataError that
still reaches the database is a 422 `invalid_value`, never a 500. In every case nothing is
written.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.core.deps import RequestDb
from medgrader.db.session import no_rows
from tests.support.accounts import PASSWORD, Account, unique_email

NUL_ERROR = "must not contain NUL (\\u0000) characters"


def _assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text
    return body  # type: ignore[no-any-return]


def _count(db: psycopg.Connection, query: str, *params: Any) -> int:
    row = db.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


# -- request bodies --------------------------------------------------------------------------


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


def _request_models() -> dict[str, type[BaseModel]]:
    """Every JSON body model of the app's routes, by route."""
    app = create_app(Settings(_env_file=None, environment=Environment.TEST))  # type: ignore[call-arg]
    found = {}
    for route in _api_routes(app.routes):
        hints = typing.get_type_hints(route.endpoint)
        hints.pop("return", None)  # the response model is not a request
        for hint in hints.values():
            if isinstance(hint, type) and issubclass(hint, BaseModel):
                found[f"{sorted(route.methods)[0]} {route.path} {hint.__name__}"] = hint
    return found


def _string_fields(model: type[BaseModel]) -> list[str]:
    """Aliases of the fields that accept a JSON string."""
    aliases = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        try:
            model.model_validate({alias: "abcdefghij"})
        except ValidationError as error:
            if any(
                e["loc"][:1] == (alias,) and e["type"].endswith("_type") for e in error.errors()
            ):
                continue  # not a string field (a number, a bool, a uuid...)
        aliases.append(alias)
    return aliases


def _nul_problems(route: str, model: type[BaseModel]) -> list[str]:
    problems = []
    for alias in _string_fields(model):
        for value in ("abcd\x00efgh", "\x00", "  abcd\x00  "):
            try:
                model.model_validate({alias: value})
                refused = []
            except ValidationError as error:
                refused = [e for e in error.errors() if e["loc"][:1] == (alias,)]
            if not refused:
                problems.append(f"{route}: {alias} accepts {value!r}")
                continue
            try:
                model.model_validate({alias: value.replace("\x00", "x")})
                clean_is_valid = True
            except ValidationError as clean:
                clean_is_valid = not any(e["loc"][:1] == (alias,) for e in clean.errors())
            # When the same value without the NUL is valid, only the NUL can be the reason.
            if clean_is_valid and [e["type"] for e in refused] != ["nul_character"]:
                problems.append(f"{route}: {alias} refuses {value!r} for {refused}")
    return problems


def test_every_request_string_field_refuses_nul() -> None:
    """A new request model whose string field forgets NoNul fails here."""
    models = _request_models()
    names = {model.__name__ for model in models.values()}
    # Guards against finding nothing to check.
    assert {"SpendRequest", "AdjustmentRequest", "RegisterRequest", "PackageCreate"} <= names
    assert _string_fields(models["POST /api/credits/spend SpendRequest"]) == ["reason"]
    problems = [p for route, model in sorted(models.items()) for p in _nul_problems(route, model)]
    assert problems == []


def test_register_names_with_nul_are_422_and_write_nothing(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    for field in ("firstName", "lastName"):
        email = unique_email("nul")
        body = {"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace",
                "role": "student"} | {field: "Ada\u0000"}  # fmt: skip
        refused = _assert_refused(client.post("/api/auth/register", json=body), 422,
                                  "validation_error")  # fmt: skip
        assert refused["error"] == f"{field}: {NUL_ERROR}"
        assert _count(db, "SELECT count(*) FROM pending_registrations WHERE email = %s", email) == 0
        assert _count(db, "SELECT count(*) FROM users WHERE email = %s", email) == 0


def test_package_name_and_description_with_nul_are_422_and_write_nothing(
    client: httpx.Client, db: psycopg.Connection, admin: Account
) -> None:
    name = f"Nul {uuid.uuid4().hex[:8]}"
    good = {"name": name, "credits": 10, "priceInCents": 100}
    for body in (good | {"name": f"{name}\u0000"}, good | {"description": "ten\u0000credits"}):
        response = client.post("/api/credit-packages", json=body, headers=admin.headers)
        _assert_refused(response, 422, "validation_error")
        assert NUL_ERROR in response.json()["error"]
    assert _count(db, "SELECT count(*) FROM credit_packages WHERE name LIKE %s", f"{name}%") == 0

    created = client.post("/api/credit-packages", json=good, headers=admin.headers)
    assert created.status_code == 201, created.text
    package_id = created.json()["id"]
    patched = client.patch(
        f"/api/credit-packages/{package_id}", json={"name": "x\u0000"}, headers=admin.headers
    )
    _assert_refused(patched, 422, "validation_error")
    row = db.execute("SELECT name FROM credit_packages WHERE id = %s", (package_id,)).fetchone()
    assert row == (name,)
    client.delete(f"/api/credit-packages/{package_id}", headers=admin.headers)


def test_login_with_nul_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "pass\u0000word"}
    )
    _assert_refused(response, 422, "validation_error")


# -- the URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/payments/checkout-status/cs_abc%00def",
        "/api/payments/checkout-status/%00",
        "/api/payments/abc%00def",
        "/api/payments/5f0c2a1e-8d44-4c1b-9b1e-2d6f0e9a7c31%00",  # fixed: xdist needs stable ids
        "/api/credit-packages/0b7d9e52-3a1f-4e6c-8f20-6c4d1a9e5b77%00",
        "/api/cred%00its/balance",
    ],
)
def test_a_nul_in_the_path_is_404(client: httpx.Client, admin: Account, path: str) -> None:
    body = _assert_refused(client.get(path, headers=admin.headers), 404, "not_found")
    assert "NUL" in body["error"]


def test_a_nul_in_an_adjustment_path_is_404_and_writes_nothing(
    client: httpx.Client, db: psycopg.Connection, admin: Account
) -> None:
    before = _count(db, "SELECT count(*) FROM credit_transactions")
    response = client.post(
        "/api/admin/students/00000000-0000-4000-8000-%00/credit-adjustments",
        json={"amount": 5, "reason": "x"},
        headers=admin.headers,
    )
    _assert_refused(response, 404, "not_found")
    assert _count(db, "SELECT count(*) FROM credit_transactions") == before


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/api/credits/transactions", "type=USAGE%00", "type"),
        ("/api/credits/transactions", "limit=5&cursor=%00abc", "cursor"),
        ("/api/payments/checkout-sessions", "cursor=abc%00", "cursor"),
        ("/api/credit-packages", "includeInactive=true%00", "includeInactive"),
        ("/api/credit-packages", "a%00b=1", "ab"),
    ],
)
def test_a_nul_in_the_query_is_422_naming_the_parameter(
    client: httpx.Client, admin: Account, path: str, query: str, named: str
) -> None:
    response = client.get(f"{path}?{query}", headers=admin.headers)
    body = _assert_refused(response, 422, "validation_error")
    assert body["error"] == f"{named}: {NUL_ERROR}"


def test_a_percent_escape_that_is_not_nul_still_passes(client: httpx.Client) -> None:
    response = client.get("/api/credit-packages?note=%2500")  # "%00" as text, not a NUL
    assert response.status_code == 200, response.text


# -- the backstop: whatever still reaches the database ----------------------------------------


@pytest.fixture
def backstop_app(build_app: Callable[..., Any], serve: Callable[[Any], Any]) -> Iterator[Any]:
    """The real app plus routes that hand PostgreSQL a value it refuses, on both paths."""
    app = build_app()
    remember = text("INSERT INTO webhook_events (id, type, payload) VALUES (:id, 'test.nul', '{}')")

    @app.post("/test/lean/{event_id}/{where}")
    async def lean(event_id: str, where: str, session: RequestDb) -> dict[str, str]:
        await session.execute(no_rows(remember), {"id": event_id})
        if where == "client":  # refused by psycopg before anything is sent
            await session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
        elif where == "server":  # refused by PostgreSQL (22P05), read at once
            await session.execute(text("SELECT CAST(:v AS jsonb)"), {"v": '"a\\u0000b"'})
        else:  # queued in the pipeline: the error surfaces at COMMIT, after the endpoint
            await session.execute(no_rows(text("SELECT CAST(:v AS jsonb)")), {"v": '"\\u0000"'})
        return {"ok": "no"}

    @app.post("/test/orm/{event_id}/{what}")
    async def orm(event_id: str, what: str, session: RequestDb) -> dict[str, str]:
        await session.execute(remember, {"id": event_id})
        if what == "nul":
            await session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
        else:  # not a data error: stays a 500
            await session.execute(text("SELECT * FROM no_such_table"))
        return {"ok": "no"}

    with serve(app).client() as http:
        yield http


def _event_stored(db: psycopg.Connection, event_id: str) -> bool:
    return _count(db, "SELECT count(*) FROM webhook_events WHERE id = %s", event_id) > 0


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [
        ("lean/{id}/client", 422, "invalid_value"),
        ("lean/{id}/server", 422, "invalid_value"),
        ("lean/{id}/commit", 422, "invalid_value"),
        ("orm/{id}/nul", 422, "invalid_value"),
        ("orm/{id}/other", 500, "internal_error"),  # not a data error: stays a 500
    ],
)
def test_a_data_error_is_422_and_rolls_back(
    backstop_app: httpx.Client, db: psycopg.Connection, route: str, status: int, code: str
) -> None:
    event_id = f"evt_nul_{uuid.uuid4().hex}"
    response = backstop_app.post(f"/test/{route.format(id=event_id)}")
    body = _assert_refused(response, status, code)
    assert "SELECT" not in body["error"]
    assert not _event_stored(db, event_id)
