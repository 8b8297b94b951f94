"""Every failure answers {"error", "code"} with the right status and no stack trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from medgrader.core.errors import install_error_handlers
from tests.support.accounts import PASSWORD, unique_email


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["code"] == code
    assert "Traceback" not in response.text


def test_unknown_route_is_404(client: httpx.Client) -> None:
    _assert_error_shape(client.get("/api/nothing-here"), 404, "not_found")


def test_wrong_method_is_405(client: httpx.Client) -> None:
    _assert_error_shape(client.delete("/api/auth/login"), 405, "method_not_allowed")


def test_body_over_one_mib_is_413_and_writes_nothing(
    client: httpx.Client, db: psycopg.Connection
) -> None:
    email = unique_email("huge")
    body = (
        b'{"email": "' + email.encode() + b'", "password": "' + PASSWORD.encode() + b'",'
        b' "firstName": "A", "lastName": "B", "role": "student", "pad": "'
        + b"x" * (1024 * 1024)
        + b'"}'
    )
    response = client.post(
        "/api/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    _assert_error_shape(response, 413, "payload_too_large")
    pending = db.execute("SELECT count(*) FROM pending_registrations WHERE email = %s", (email,))
    assert pending.fetchone() == (0,)


def test_chunked_body_over_one_mib_is_413(client: httpx.Client) -> None:
    def chunks():  # no Content-Length: the guard must count what arrives
        for _ in range(17):
            yield b"x" * 65536

    response = client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_error_shape(response, 413, "payload_too_large")


def test_non_json_body_is_415(client: httpx.Client) -> None:
    response = client.post(
        "/api/auth/login",
        content="email=a@example.com&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_error_shape(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    _assert_error_shape(response, 400, "invalid_json")


def test_validation_error_is_422_and_names_the_field(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", json={"email": "a@example.com"})
    _assert_error_shape(response, 422, "validation_error")
    assert "password" in response.json()["error"]


def test_unexpected_exception_is_500_without_internals(serve: Callable[[Any], Any]) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    with serve(app).client() as http:
        response = http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error.", "code": "internal_error"}
    assert "SELECT" not in response.text
