"""Signing in and posting forms the way a browser does, with httpx (cookies and CSRF)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import Account
from tests.support.live_server import LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "no CSRF field in the page"
    return match.group(1)


def page_client(web_app: Any) -> httpx.Client:
    """A client of the pages app (in-process, or on loopback), following no redirect."""
    if hasattr(web_app, "client"):
        return web_app.client(follow_redirects=False)  # type: ignore[no-any-return]
    return httpx.Client(base_url=web_app.url, timeout=30, follow_redirects=False)


def sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    """The login form, submitted with its CSRF token; answers the redirect (303)."""
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@contextlib.contextmanager
def admin_client(web_app: LiveServer, admin: Account) -> Iterator[httpx.Client]:
    """A page client signed in as `admin`."""
    with page_client(web_app) as http:
        assert sign_in(http, admin.email, admin.password).status_code == 303
        yield http


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open `page`, take its CSRF token and post `data` to `action`, like its form would."""
    token = csrf_from(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token})


def spend_minutes(client: httpx.Client, student: Any, count: int, label: str) -> None:
    """`count` spends of one credit over the JSON API ("<label> 0", "<label> 1", ...)."""
    tag = label.replace(" ", "-")
    for n in range(count):
        spent = client.post(
            "/api/credits/spend", json={"amount": 1, "reason": f"{label} {n}"},
            headers={**student.headers, "Idempotency-Key": f"{tag}-{student.id}-{n}"},
        )  # fmt: skip
        assert spent.status_code == 201, spent.text


def require_browser(chromium: str = CHROMIUM, ci: str | None = None) -> None:
    """Fail when CI=true and the browser cannot run (CI must never skip these tests);
    elsewhere skip with the reason."""
    missing = None
    if not Path(chromium).exists():
        missing = f"{chromium} is missing (make test installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (make test installs it)"
    if missing is None:
        return
    if (os.environ.get("CI", "") if ci is None else ci).lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {missing}")
    pytest.skip(missing)
