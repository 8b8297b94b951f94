"""The app as a browser meets it: FRONTEND_URL pointing at the app itself (so Stripe returns
the buyer to its own /credits/success page), and Playwright driving Debian's chromium."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.db.resolve import Database
from stripe_emulator.server import bind_socket
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import packages
from tests.conftest import ROOT
from tests.support.fast_app import APP_URL, FastApp, InProcessApp
from tests.support.live_server import LiveServer
from tests.support.tiers import is_e2e
from tests.web.support import CHROMIUM, require_browser

__all__ = ["packages"]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# The last run's screenshots, one per page, for a person to look at (git-ignored).
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"


@pytest.fixture
def web_app(request: pytest.FixtureRequest) -> LiveServer | InProcessApp:
    """A second app on the same database whose FRONTEND_URL is itself. Stripe's webhooks go
    to the first (one endpoint, as in production; tests that pause it pause them all), which
    fulfils into the same database."""
    if is_e2e(request.node):
        return request.getfixturevalue("live_web_app")  # type: ignore[no-any-return]
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_web_app")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def fast_web_app(fast_app: FastApp) -> Iterator[InProcessApp]:
    """In-process: the pages app of the fast tier. Sign in with Google is off here (its pages
    reference nothing outside the app); `google_web_app` has it on."""
    app = fast_app.sibling(frontend_url=APP_URL, google_client_ids="")
    yield app
    app.close()


@pytest.fixture(scope="session")
def live_web_app(
    live_settings: Settings, live_database: Database, live_app: LiveServer
) -> Iterator[LiveServer]:
    with _own_app(live_settings, live_database, google_client_ids="") as server:
        yield server


@pytest.fixture
def google_web_app(request: pytest.FixtureRequest) -> LiveServer | InProcessApp:
    """As web_app, with Sign in with Google on (the suite's GOOGLE_CLIENT_IDS and the test
    issuer's certificates): /login and /signup show Google's button."""
    if is_e2e(request.node):
        return request.getfixturevalue("live_google_web_app")  # type: ignore[no-any-return]
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_google_web_app")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def fast_google_web_app(fast_app: FastApp) -> Iterator[InProcessApp]:
    assert fast_app.settings.google_client_id_list
    app = fast_app.sibling(frontend_url=APP_URL)
    yield app
    app.close()


@pytest.fixture(scope="session")
def live_google_web_app(
    live_settings: Settings, live_database: Database, live_app: LiveServer
) -> Iterator[LiveServer]:
    assert live_settings.google_client_id_list
    with _own_app(live_settings, live_database) as server:
        yield server


@contextlib.contextmanager
def _own_app(settings: Settings, database: Database, **changes: Any) -> Iterator[LiveServer]:
    """A second app process on loopback whose FRONTEND_URL is itself."""
    sock = bind_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # Jobs run on the first app's worker: a receipt's links point at FRONTEND_URL, and the
    # purchase tests expect the suite's (http://frontend.test), whichever app fulfilled.
    own = settings.model_copy(
        update={"frontend_url": url, "run_worker_in_process": False, **changes}
    )
    server = LiveServer(create_app(own, database=database), sock=sock).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def screenshots() -> None:
    """This run's screenshots only."""
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)


# Per module, not per session: Playwright's sync API keeps an event loop running on this
# thread while it is open, and the async tests that the same xdist worker runs afterwards
# could not start theirs ("Runner.run() cannot be called from a running event loop").
@pytest.fixture(scope="module")
def browser(screenshots: None) -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A browser tab whose console errors and off-site requests are recorded: every page the
    app serves must have none (assert_clean, run when the fixture ends)."""

    def __init__(self, context: Any, app_url: str, allowed: tuple[str, ...]) -> None:
        self.context = context
        self.page = context.new_page()
        self.app_url = app_url
        self.allowed = (app_url, *allowed, "data:", "about:")
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("request", self._request)

    def _console(self, message: Any) -> None:
        # Stripe's own page (the emulator's, with no favicon) is not ours to judge.
        if message.type != "error" or not self.page.url.startswith(self.app_url):
            return
        # A page answering 403/404 on purpose (asserted by the test) logs its own status.
        if "Failed to load resource" in message.text and message.location.get("url") in (
            self.page.url,
            "",
        ):
            return
        self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.allowed):
            self.offsite.append(request.url)

    def open(self, path: str) -> Any:
        return self.page.goto(self.app_url + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.offsite == [], self.offsite


@pytest.fixture
def tabs(browser: Any, live_web_app: LiveServer, live_emulator: EmulatorServer) -> Iterator[Any]:
    """tabs() opens a fresh browser profile (its own cookies) on the app. Stripe's hosted
    page (the emulator) is the one other origin a page may lead to: the Buy button goes there."""
    opened: list[Watched] = []

    def open_tab() -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(20_000)
        tab = Watched(context, live_web_app.url, (live_emulator.url,))
        opened.append(tab)
        return tab

    yield open_tab
    try:
        for tab in opened:
            tab.assert_clean()
    finally:
        for tab in opened:
            tab.context.close()
