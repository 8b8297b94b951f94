"""Shared fixtures, for two tiers of tests.

Fast tier (every test not marked `e2e`): the app in-process (an httpx client whose transport
calls the ASGI app: no socket, no server), the Stripe emulator in-process, mail kept in memory,
jobs run inline (the mailbox runs the queue before each look; `run_jobs()` does it on demand).
Each pytest process (xdist worker) has a database of its own, cloned from a migrated template,
and every fast test starts on it wiped empty, with a fresh emulator and mailbox: no test sees or
changes another test's rows. When a fast test ends, the ledger audit's checks must find nothing
(the invariants, per test: no other test can break them).

End-to-end tier (`@pytest.mark.e2e`): what needs real processes. The app under uvicorn on
loopback with its job worker, the Stripe emulator over HTTP delivering real webhooks, a real
SMTP server (aiosmtpd), the browser, several processes, faults. Its tests share one database
per pytest process (`<prefix>_<worker>_e2e`), checked by `medgrader audit` when the run ends.

The fixtures keep one name and interface in both tiers (`client`, `services`, `db`, `student`,
`admin`, `packages`, `invariants`, `mailbox`, `stripe_emulator`, `settings`, `database`,
`app_url`, `new_client`, `new_async_client`, `run_jobs`): the marker decides which one a test
gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.embedded import (
    EmbeddedServer,
    drop_database,
    ensure_database,
    start_embedded_postgres,
)
from medgrader.db.engine import to_libpq_url
from medgrader.db.migrate import upgrade_to_head
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer, start_emulator
from tests.support.accounts import Account, sign_up
from tests.support.databases import (
    TEST_DATABASE,
    TestServer,
    Wiper,
    open_test_server,
)
from tests.support.fast_app import APP_URL, FastApp, InProcessApp
from tests.support.google import GOOGLE_CLIENT_ID, GoogleIssuer
from tests.support.invariants import assert_ledger_invariants, audit_findings, run_audit_cli
from tests.support.live_server import LiveServed, LiveServer
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner
from tests.support.tiers import is_e2e, wait_for_live_jobs

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "test-jwt-secret-" + "s" * 60  # 64+ bytes: long enough even for HS512 tests
STRIPE_SECRET_KEY = "sk_test_medgrader_tests"
STRIPE_WEBHOOK_SECRET = "whsec_medgrader_tests_0123456789abcdef"
WEBHOOK_PATH = "/api/webhooks/stripe"
GENEROUS_LIMITS = {
    "rate_limit_login_per_account": "10000/60",
    "rate_limit_login_per_address": "100000/60",
    "rate_limit_codes_per_address": "100000/60",
    "rate_limit_verify_per_address": "100000/60",
    "rate_limit_checkout_per_student": "10000/60",
}
# argon2id at its cheapest (production's cost is a setting with a floor: config.Settings).
CHEAP_PASSWORD_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}
# The fault tests' database, on a server of their own (see fault_server).
FAULTS_DATABASE = "medgrader_faults"
Served = InProcessApp | LiveServed  # what `serve` returns
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password-123"


def make_test_settings(
    database_url: str, *, smtp_port: int, stripe_api_base: str, google_certs_url: str
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.TEST,
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        frontend_url="http://frontend.test",
        db_pool_size=10,
        db_max_overflow=30,
        stripe_secret_key=STRIPE_SECRET_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        stripe_api_base=stripe_api_base,
        stripe_timeout_seconds=10,
        receipt_retry_base_seconds=0.2,
        receipt_retry_max_seconds=1.0,
        google_client_ids=f"other-client.apps.googleusercontent.com,{GOOGLE_CLIENT_ID}",
        google_certs_url=google_certs_url,
        # The suite signs many users up from one address and opens many checkouts per student:
        # generous limits here; tests/security sets strict ones for the limits' own tests.
        **GENEROUS_LIMITS,
        # The holds' concurrency tests race dozens of holds on one student; the limit's own
        # tests (tests/holds/test_holds_limits.py) run an app with the default.
        holds_max_active_per_student=1000,
        **CHEAP_PASSWORD_HASHING,
        # A VAT-registered seller: receipts are VAT invoices (tests/documents builds an
        # unregistered Seller where it needs one).
        seller_name="MedGrader Test Ltd",
        seller_address="1 Test Street\nLondon\nEC1A 1AA",
        vat_number="GB123456789",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The basetemp (pyproject: .data/pytest-tmp) is made before any fixture: its parent must be.
    (ROOT / ".data").mkdir(exist_ok=True)
    # Logs as in development (plain lines, tracebacks as text). Unconfigured, structlog renders
    # each logged exception with rich and its locals: seconds per 500 with a big request.
    from medgrader.core.logging import configure_logging

    configure_logging(json=False)


# The longest tests (by --durations), run first: under xdist they start while the other
# workers take the many short ones, instead of one of them holding the end of the run.
LONGEST_FIRST = (
    "tests/contract/",
    "tests/jobs/test_jobs_worker_recovery.py",
    "tests/ops/",
    "tests/demo/",
    "tests/web/test_web_browser.py",
)


# The Stripe emulator's own tests (its distribution's, emulator/tests) serve it on loopback
# and talk to it over HTTP: end-to-end here, but for those that run it in-process.
EMULATOR_TESTS = ROOT / "emulator" / "tests"
EMULATOR_IN_PROCESS = {"test_emulator_in_process.py"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """An xdist_group keeps tests that share one server (the fault tests', the benchmarks') in
    one worker: two workers would drop each other's databases. pytest-xdist marks a grouped
    test by appending "@group" to its node id, which pytest 9.2 silently ignores (every group
    then spread over the workers). Refuse to run rather than flake."""
    if not getattr(session.config.option, "loadgroup", False):
        return  # not an xdist worker of `--dist loadgroup`
    lost = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group")
            and "@" not in i.nodeid]  # fmt: skip
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(lost)} tests marked xdist_group (first: {lost[0]});"
            " this pytest and pytest-xdist do not work together: see pyproject.toml's pins"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if path.is_relative_to(EMULATOR_TESTS) and path.name not in EMULATOR_IN_PROCESS:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: 0 if item.nodeid.startswith(LONGEST_FIRST) else 1)


# -- the database server and its databases --------------------------------------------------
@pytest.fixture(scope="session")
def test_server() -> TestServer:
    return open_test_server([])


@pytest.fixture(scope="session")
def fast_database() -> Database:
    server = open_test_server([TEST_DATABASE])
    return server.database(TEST_DATABASE)


@pytest.fixture(scope="session")
def live_database() -> Iterator[Database]:
    name = f"{TEST_DATABASE}_e2e"
    server = open_test_server([name])
    database = server.database(name)
    yield database
    # Whatever the end-to-end tests did, `medgrader audit` must be clean on their database.
    final = run_audit_cli(database.url)
    assert final.returncode == 0, "audit after the test run:\n" + final.stdout + final.stderr


@pytest.fixture(scope="session")
def google_issuer() -> Iterator[GoogleIssuer]:
    """Google's certificate endpoint on loopback, with a key that signs test ID tokens."""
    issuer = GoogleIssuer().start()
    yield issuer
    issuer.stop()


# -- the fast tier --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fast_mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="session")
def fast_app(
    fast_database: Database, fast_mailbox: Mailbox, google_issuer: GoogleIssuer
) -> Iterator[FastApp]:
    base = make_test_settings(
        fast_database.url,
        smtp_port=1,  # no SMTP in this tier: MemoryMailer
        stripe_api_base="http://stripe-emulator.test",
        google_certs_url=google_issuer.url,
    )
    app = FastApp(
        base,
        fast_database,
        fast_mailbox,
        webhook_path=WEBHOOK_PATH,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
    )
    yield app
    app.close()


@pytest.fixture(scope="session")
def fast_db(fast_database: Database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(to_libpq_url(fast_database.url), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def fast_wiper(fast_database: Database) -> Iterator[Wiper]:
    wiper = Wiper(fast_database.url)
    yield wiper
    wiper.close()


@pytest.fixture
def fast_state(fast_app: FastApp, fast_wiper: Wiper, fast_db: psycopg.Connection) -> Iterator[None]:
    """A fast test starts on an empty database, a fresh emulator and an empty mailbox; when it
    ends, the ledger audit's checks find nothing."""
    fast_app.reset()
    fast_wiper.wipe()
    yield
    fast_app.stripe.finish_deliveries()  # what a delivery in flight writes, the audit sees
    findings = audit_findings(fast_db)
    assert findings == [], f"the ledger audit after this test: {findings}"


def _tier(request: pytest.FixtureRequest, live: str, fast: str) -> Any:
    if is_e2e(request.node):
        return request.getfixturevalue(live)
    request.getfixturevalue("fast_state")
    return request.getfixturevalue(fast)


# -- the end-to-end tier --------------------------------------------------------------------
@pytest.fixture(scope="session")
def live_mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def live_emulator() -> Iterator[EmulatorServer]:
    """The Stripe emulator on loopback; the app's SDK talks to it, it sends the app webhooks."""
    server = start_emulator()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_settings(
    live_database: Database,
    live_mailbox: Mailbox,
    live_emulator: EmulatorServer,
    google_issuer: GoogleIssuer,
) -> Settings:
    return make_test_settings(
        live_database.url,
        smtp_port=live_mailbox.port,
        stripe_api_base=live_emulator.url,
        google_certs_url=google_issuer.url,
    )


@pytest.fixture(scope="session")
def live_app(
    live_settings: Settings, live_database: Database, live_emulator: EmulatorServer
) -> Iterator[LiveServer]:
    server = LiveServer(create_app(live_settings, database=live_database)).start()
    # Once the app listens, the emulator may deliver its webhooks there, signed as Stripe does.
    live_emulator.add_endpoint(f"{server.url}{WEBHOOK_PATH}", secret=STRIPE_WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_db(live_database: Database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(to_libpq_url(live_database.url), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def live_services(live_settings: Settings, live_database: Database) -> Iterator[ServiceRunner]:
    runner = ServiceRunner(live_settings, live_database)
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def live_admin(live_app: LiveServer, live_services: ServiceRunner) -> Account:
    with httpx.Client(base_url=live_app.url, timeout=30) as http:
        return make_admin(http, live_services)


@pytest.fixture(scope="session")
def live_packages(live_app: LiveServer, live_admin: Account) -> dict[str, dict[str, Any]]:
    from tests.checkout.support import create_packages

    with httpx.Client(base_url=live_app.url, timeout=30) as http:
        return create_packages(http, live_admin)


# -- the fixtures tests use: one name, either tier ------------------------------------------
@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return _tier(request, "live_settings", "fast_settings")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def fast_settings(fast_app: FastApp) -> Settings:
    return fast_app.settings


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Database:
    return _tier(request, "live_database", "fast_database")  # type: ignore[no-any-return]


@pytest.fixture
def db(request: pytest.FixtureRequest) -> psycopg.Connection:
    """A plain autocommit connection for looking at (and, on purpose, breaking) rows."""
    return _tier(request, "live_db", "fast_db")  # type: ignore[no-any-return]


@pytest.fixture
def services(request: pytest.FixtureRequest) -> ServiceRunner:
    if is_e2e(request.node):
        return request.getfixturevalue("live_services")  # type: ignore[no-any-return]
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_app").services  # type: ignore[no-any-return]


@pytest.fixture
def mailbox(request: pytest.FixtureRequest) -> Mailbox:
    return _tier(request, "live_mailbox", "fast_mailbox")  # type: ignore[no-any-return]


@pytest.fixture
def stripe_emulator(request: pytest.FixtureRequest) -> Any:
    """EmulatorServer (end-to-end) or InProcessStripe (fast): the same control methods."""
    if is_e2e(request.node):
        return request.getfixturevalue("live_emulator")
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_app").stripe


@pytest.fixture
def app_url(request: pytest.FixtureRequest) -> str:
    """The app's base URL (the key of its webhook endpoint at the emulator)."""
    if is_e2e(request.node):
        return request.getfixturevalue("live_app").url  # type: ignore[no-any-return]
    request.getfixturevalue("fast_state")
    return APP_URL


@pytest.fixture
def new_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., httpx.Client]]:
    """new_client(**httpx options) → another client of the app (its own cookies), closed at
    the end of the test."""
    opened: list[httpx.Client] = []
    if is_e2e(request.node):
        url = request.getfixturevalue("live_app").url

        def make(**options: Any) -> httpx.Client:
            options.setdefault("timeout", 30)
            return httpx.Client(base_url=url, **options)

    else:
        request.getfixturevalue("fast_state")
        make = request.getfixturevalue("fast_app").client

    def tracked(**options: Any) -> httpx.Client:
        opened.append(make(**options))
        return opened[-1]

    yield tracked
    for client in opened:
        client.close()


@pytest.fixture
def new_async_client(request: pytest.FixtureRequest) -> Callable[..., httpx.AsyncClient]:
    """new_async_client(**httpx options) → an httpx.AsyncClient of the app (the caller closes
    it: `async with new_async_client() as http`)."""
    if is_e2e(request.node):
        url = request.getfixturevalue("live_app").url
        return lambda **options: httpx.AsyncClient(base_url=url, **{"timeout": 60, **options})
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_app").async_client  # type: ignore[no-any-return]


@pytest.fixture
def build_app(request: pytest.FixtureRequest) -> Callable[..., FastAPI]:
    """build_app(**settings changes) → another app (not started) on the tier's database,
    Stripe emulator and mail; `serve` runs it."""
    if is_e2e(request.node):
        settings, database = (
            request.getfixturevalue("live_settings"),
            request.getfixturevalue("live_database"),
        )
        return lambda **changes: create_app(
            settings.model_copy(update={"run_worker_in_process": False, **changes}),
            database=database,
        )
    request.getfixturevalue("fast_state")
    fast: FastApp = request.getfixturevalue("fast_app")

    def build(**changes: Any) -> FastAPI:
        settings = fast.settings.model_copy(update=changes)
        if "stripe_api_base" in changes:  # Stripe elsewhere (e.g. nowhere): a real SDK client
            return create_app(settings, database=fast.database)
        return fast.stripe_app(settings)

    return build


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], Served]]:
    """serve(asgi_app) → it runs (lifespan and all) until the test ends: in-process on the fast
    tier's loop, or under uvicorn on loopback end-to-end. `.client()` reaches it."""
    running: list[Served] = []
    if is_e2e(request.node):
        start: Callable[[Any], Served] = LiveServed
    else:
        request.getfixturevalue("fast_state")
        start = request.getfixturevalue("fast_app").serve

    def served(app: Any) -> Served:
        running.append(start(app))
        return running[-1]

    yield served
    for app in reversed(running):
        app.close()


@pytest.fixture
def client(new_client: Callable[..., httpx.Client]) -> httpx.Client:
    return new_client()


@pytest.fixture
def run_jobs(request: pytest.FixtureRequest) -> Callable[[], None]:
    """run_jobs() → the job queue has run until nothing is due: inline in the fast tier; in
    the end-to-end tier, waits for the app's worker to empty it."""
    if is_e2e(request.node):
        db = request.getfixturevalue("live_db")
        return lambda: wait_for_live_jobs(db)
    request.getfixturevalue("fast_state")
    return request.getfixturevalue("fast_app").run_jobs  # type: ignore[no-any-return]


@pytest.fixture
def student(client: httpx.Client, mailbox: Mailbox) -> Account:
    return sign_up(client, mailbox, role="student")


@pytest.fixture
def instructor(client: httpx.Client, mailbox: Mailbox) -> Account:
    return sign_up(client, mailbox, role="instructor")


def make_admin(http: httpx.Client, services: ServiceRunner) -> Account:
    """An administrator, created the way `medgrader create-admin` does, logged in over HTTP."""
    from medgrader.auth.service import create_admin

    services.in_transaction(
        lambda session, ctx: create_admin(session, ctx, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    )
    response = http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(
        id=body["user"]["id"],
        email=ADMIN_EMAIL,
        password=ADMIN_PASSWORD,
        token=body["accessToken"],
        role="instructor",
    )


@pytest.fixture
def admin(request: pytest.FixtureRequest) -> Account:
    if is_e2e(request.node):
        return request.getfixturevalue("live_admin")  # type: ignore[no-any-return]
    return make_admin(request.getfixturevalue("client"), request.getfixturevalue("services"))


@pytest.fixture
def invariants(db: psycopg.Connection) -> Iterator[None]:
    """Use in any money scenario: the ledger invariants must hold when the test ends."""
    yield
    assert_ledger_invariants(db)


# -- faults ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fault_server() -> Iterator[EmbeddedServer]:
    """A PostgreSQL server of the fault tests' own: cutting its connections, stopping or
    restarting it disturbs no other test. (Its tests share one xdist group: one process.)"""
    server = start_embedded_postgres(ROOT / ".data" / "faults", database="postgres")
    drop_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    ensure_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    upgrade_to_head(server.sqlalchemy_url(FAULTS_DATABASE))
    yield server
    server.stop()


@pytest.fixture
def fault_settings(live_settings: Settings, fault_server: EmbeddedServer) -> Settings:
    return live_settings.model_copy(
        update={"database_url": fault_server.sqlalchemy_url(FAULTS_DATABASE)}
    )
