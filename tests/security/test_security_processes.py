"""Two real API processes (`medgrader serve`, as production runs them) share one PostgreSQL:
the abuse limits they enforce are one budget, not one each, and what they send carries the
security headers and no `Server: uvicorn`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medgrader.config import Settings
from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from tests.conftest import JWT_SECRET, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
from tests.security.conftest import STRICT_LIMITS
from tests.support.accounts import PASSWORD, sign_up
from tests.support.live_server import free_port
from tests.support.mailbox import Mailbox

# End-to-end: the app as separate processes.
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _environment(settings: Settings, database: Database) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_LIMIT_", "TRUSTED_"))}
    return env | {
        "ENVIRONMENT": "test",
        "DATABASE_URL": to_libpq_url(database.url),
        "JWT_SECRET": JWT_SECRET,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_API_BASE": settings.stripe_api_base,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(settings.smtp_port),
        "RUN_WORKER_IN_PROCESS": "false",
        "DB_POOL_SIZE": "2",
        "DB_MAX_OVERFLOW": "2",
        **{name.upper(): value for name, value in STRICT_LIMITS.items()},
    }


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API process exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} never became healthy")


@pytest.fixture(scope="module")
def two_processes(live_settings: Settings, live_database: Database) -> Iterator[list[str]]:
    env = _environment(live_settings, live_database)
    processes, urls = [], []
    try:
        for _ in range(2):
            port = free_port()
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "medgrader.cli",
                        "serve",
                        "--port",
                        str(port),
                        "--no-access-log",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            _wait_healthy(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_two_api_processes_share_the_login_limit(
    two_processes: list[str], client: httpx.Client, mailbox: Mailbox
) -> None:
    account = sign_up(client, mailbox)  # on the suite's app; the processes share its database
    first, second = (httpx.Client(base_url=url, timeout=30) for url in two_processes)
    with first, second:
        answers = []
        for attempt in range(6):  # the limit is 5 per account: alternate between processes
            http = first if attempt % 2 == 0 else second
            response = http.post(
                "/api/auth/login", json={"email": account.email, "password": "wrong guess"}
            )
            answers.append(response.status_code)
        right_on_first = first.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        right_on_second = second.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        )
    # Each process alone has seen at most 3 wrong passwords: only a shared count says 429.
    assert answers == [401] * 5 + [429]
    assert right_on_first.status_code == right_on_second.status_code == 429
    assert right_on_second.json()["code"] == "rate_limited"
    assert int(right_on_second.headers["Retry-After"]) > 0


def test_a_served_process_sends_the_security_headers_and_no_server_header(
    two_processes: list[str],
) -> None:
    for path in ("/health", "/api/credit-packages", "/api/no-such-route"):
        response = httpx.get(f"{two_processes[0]}{path}", timeout=10)
        assert "server" not in response.headers, (path, response.headers)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
