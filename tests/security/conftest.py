"""An app with strict abuse limits, behind a (simulated) trusted proxy: in-process next to the
fast tier's app (same database, loop and mailbox), or under uvicorn for end-to-end tests.

Requests carry X-Forwarded-For from loopback, which this app trusts, so each test can act
from client addresses of its own and the per-address counters of one test never touch
another's. The addresses are documentation ranges written in a header: no traffic goes there.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.db.resolve import Database
from tests.support.accounts import PASSWORD, Account, register, unique_email
from tests.support.fast_app import FastApp, InProcessApp
from tests.support.limits import new_address
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox
from tests.support.tiers import is_e2e

STRICT_LIMITS = {
    "rate_limit_login_per_account": "5/900",
    "rate_limit_login_per_address": "8/900",
    "rate_limit_codes_per_address": "4/3600",
    "rate_limit_verify_per_address": "6/900",
    "rate_limit_checkout_per_student": "3/600",
}
HSTS_SECONDS = 31536000
# What strict_settings changes (for the in-process app, which keeps the rest of its own).
STRICT_KEYS = {
    *STRICT_LIMITS,
    "trusted_proxy_header",
    "trusted_proxies",
    "hsts_max_age_seconds",
    "run_worker_in_process",
}


def strict_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={
            **STRICT_LIMITS,
            "trusted_proxy_header": "X-Forwarded-For",
            "trusted_proxies": "127.0.0.1/32,::1/128",
            "hsts_max_age_seconds": HSTS_SECONDS,
            "run_worker_in_process": False,
            **changes,
        }
    )


@pytest.fixture(scope="session")
def live_strict_app(live_settings: Settings, live_database: Database) -> Iterator[LiveServer]:
    server = LiveServer(create_app(strict_settings(live_settings), database=live_database))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def fast_strict_app(fast_app: FastApp) -> Iterator[InProcessApp]:
    app = fast_app.sibling(**strict_settings(fast_app.settings).model_dump(include=STRICT_KEYS))
    yield app
    app.close()


@pytest.fixture
def strict_app(request: pytest.FixtureRequest) -> LiveServer | InProcessApp:
    if is_e2e(request.node):
        return request.getfixturevalue("live_strict_app")  # type: ignore[no-any-return]
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_strict_app")  # type: ignore[no-any-return]


def client_from(server: LiveServer | InProcessApp, address: str) -> httpx.Client:
    """A client whose requests the app sees as coming from `address`."""
    headers = {"X-Forwarded-For": f"203.0.113.9, {address}"}
    if isinstance(server, InProcessApp):
        return server.client(headers=headers)
    return httpx.Client(base_url=server.url, timeout=30, headers=headers)


@pytest.fixture
def strict_client(strict_app: LiveServer | InProcessApp) -> Iterator[httpx.Client]:
    with client_from(strict_app, new_address()) as http:
        yield http


def strict_sign_up(
    server: LiveServer | InProcessApp, mailbox: Mailbox, *, role: str = "student"
) -> Account:
    """A new account made from an address of its own (so it spends no test's budget)."""
    with client_from(server, new_address()) as http:
        email = unique_email(role)
        assert register(http, email, role=role).status_code == 202
        code = mailbox.latest_otp(email)
        verified = http.post("/api/auth/verify-otp", json={"email": email, "otp": code})
        assert verified.status_code == 201, verified.text
        body = verified.json()
    return Account(body["user"]["id"], email, PASSWORD, body["accessToken"], role)
