"""Security headers on every response, no-store where tokens and money are, HSTS only when
configured, and the API documentation off in production unless enabled."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.resolve import Database
from tests.security.conftest import HSTS_SECONDS
from tests.support.accounts import Account
from tests.support.live_server import LiveServer

# End-to-end: the headers a real server sends.
pytestmark = pytest.mark.e2e


def _assert_common(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    assert response.headers["x-content-type-options"] == "nosniff", where
    assert response.headers["x-frame-options"] == "DENY", where
    assert "server" not in response.headers, where


def test_every_kind_of_response_carries_the_headers(client: httpx.Client, student: Account) -> None:
    responses = [
        client.get("/health"),
        client.get("/api/credit-packages"),
        client.get("/api/me", headers=student.headers),
        client.get("/api/me"),  # 401
        client.get("/api/no-such-route"),  # 404 from routing
        client.post("/api/auth/login", content=b"x", headers={"content-type": "text/plain"}),  # 415
        client.post("/api/auth/login", content=b"{" * (1024 * 1024 + 1)),  # 413 from the guard
        client.post("/api/auth/login", json={"email": "x"}),  # 422
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 404, 415, 413, 422]
    for response in responses:
        _assert_common(response)
        assert "strict-transport-security" not in response.headers  # not configured here


def test_auth_balance_and_payment_answers_are_never_cached(
    client: httpx.Client, student: Account
) -> None:
    for response in (
        client.post("/api/auth/login", json={"email": student.email, "password": student.password}),
        client.get("/api/me", headers=student.headers),
        client.get("/api/credits/balance", headers=student.headers),
        client.get("/api/credits/transactions", headers=student.headers),
        client.get("/api/payments/checkout-sessions", headers=student.headers),
        client.get("/api/payments/00000000-0000-4000-8000-000000000000", headers=student.headers),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url


def test_html_cannot_be_framed(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    _assert_common(page)
    assert "content-security-policy" not in client.get("/health").headers  # HTML only


def test_hsts_is_sent_when_configured(strict_app: LiveServer) -> None:
    response = httpx.get(f"{strict_app.url}/health", timeout=10)
    assert response.headers["strict-transport-security"] == (
        f"max-age={HSTS_SECONDS}; includeSubDomains"
    )


def _production(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={"environment": Environment.PRODUCTION, "run_worker_in_process": False, **changes}
    )


@pytest.fixture(scope="module")
def production_apps(live_settings: Settings, live_database: Database) -> Iterator[tuple[str, str]]:
    hidden = LiveServer(create_app(_production(live_settings), database=live_database)).start()
    shown = LiveServer(
        create_app(_production(live_settings, api_docs_enabled=True), database=live_database)
    ).start()
    yield hidden.url, shown.url
    hidden.stop()
    shown.stop()


def test_docs_are_off_in_production_unless_enabled(production_apps: tuple[str, str]) -> None:
    hidden, shown = production_apps
    for path in ("/docs", "/openapi.json"):
        off = httpx.get(f"{hidden}{path}", timeout=10)
        assert off.status_code == 404, path
        assert off.json()["code"] == "not_found"
        assert httpx.get(f"{shown}{path}", timeout=10).status_code == 200
    assert httpx.get(f"{hidden}/health", timeout=10).status_code == 200  # the API still serves
