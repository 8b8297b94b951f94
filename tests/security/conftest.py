"""An app with strict abuse limits, behind a (simulated) trusted proxy.

Requests carry X-Forwarded-For from loopback, which this app trusts, so each test can act
from client addresses of its own and the per-address counters of one test never touch
another's. The addresses are documentation ranges written in a header: no traffic goes there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.db.resolve import Database
from tests.support.accounts import PASSWORD, Account, register, unique_email
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox

STRICT_LIMITS = {
    "rate_limit_login_per_account": "5/900",
    "rate_limit_login_per_address": "8/900",
    "rate_limit_codes_per_address": "4/3600",
    "rate_limit_verify_per_address": "6/900",
    "rate_limit_checkout_per_student": "3/600",
}
HSTS_SECONDS = 31536000
_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses)
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


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
def strict_app(settings: Settings, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(create_app(strict_settings(settings), database=database)).start()
    yield server
    server.stop()


def client_from(server: LiveServer, address: str) -> httpx.Client:
    """A client whose requests the app sees as coming from `address`."""
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"X-Forwarded-For": f"203.0.113.9, {address}"}
    )


@pytest.fixture
def strict_client(strict_app: LiveServer) -> Iterator[httpx.Client]:
    with client_from(strict_app, new_address()) as http:
        yield http


def strict_sign_up(server: LiveServer, mailbox: Mailbox, *, role: str = "student") -> Account:
    """A new account made from an address of its own (so it spends no test's budget)."""
    with client_from(server, new_address()) as http:
        email = unique_email(role)
        assert register(http, email, role=role).status_code == 202
        code = mailbox.latest_otp(email)
        verified = http.post("/api/auth/verify-otp", json={"email": email, "otp": code})
        assert verified.status_code == 201, verified.text
        body = verified.json()
    return Account(body["user"]["id"], email, PASSWORD, body["accessToken"], role)
