"""Shared fixtures: real PostgreSQL (embedded), real SMTP, the app over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from medgrader.app import create_app
from medgrader.config import Environment, Settings
from medgrader.db.embedded import (
    EmbeddedServer,
    drop_database,
    ensure_database,
    start_embedded_postgres,
)
from medgrader.db.engine import to_async_url, to_libpq_url
from medgrader.db.migrate import upgrade_to_head
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer, start_emulator
from tests.support.accounts import Account, sign_up
from tests.support.google import GOOGLE_CLIENT_ID, GoogleIssuer
from tests.support.invariants import assert_ledger_invariants, run_audit_cli
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner

ROOT = Path(__file__).resolve().parent.parent
# Several test runs may share the embedded server (e.g. two checkouts): give each its own name.
TEST_DATABASE = os.environ.get("MEDGRADER_TEST_DB", "medgrader_test")
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
# The fault tests' database, on a server of their own (see fault_server).
FAULTS_DATABASE = "medgrader_faults"


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """A freshly migrated database: TEST_DATABASE_URL's server, else the embedded one."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        upgrade_to_head(external)
        yield Database(url=to_async_url(external), embedded=None)
        return
    server = start_embedded_postgres(ROOT / ".data" / "test", database="postgres")
    drop_database(server.libpq_url("postgres"), TEST_DATABASE)
    ensure_database(server.libpq_url("postgres"), TEST_DATABASE)
    upgrade_to_head(server.sqlalchemy_url(TEST_DATABASE))
    yield Database(url=server.sqlalchemy_url(TEST_DATABASE), embedded=server)
    # Whatever the tests did, `medgrader audit` must be clean on the database they leave.
    final = run_audit_cli(server.sqlalchemy_url(TEST_DATABASE))
    assert final.returncode == 0, "audit after the test run:\n" + final.stdout + final.stderr


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def stripe_emulator() -> Iterator[EmulatorServer]:
    """The Stripe emulator on loopback; the app's SDK talks to it, it sends the app webhooks."""
    server = start_emulator()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def google_issuer() -> Iterator[GoogleIssuer]:
    """Google's certificate endpoint on loopback, with a key that signs test ID tokens."""
    issuer = GoogleIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="session")
def settings(
    database: Database,
    mailbox: Mailbox,
    stripe_emulator: EmulatorServer,
    google_issuer: GoogleIssuer,
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.TEST,
        database_url=database.url,
        jwt_secret=JWT_SECRET,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        frontend_url="http://frontend.test",
        db_pool_size=10,
        db_max_overflow=30,
        stripe_secret_key=STRIPE_SECRET_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        stripe_api_base=stripe_emulator.url,
        stripe_timeout_seconds=10,
        receipt_retry_base_seconds=0.2,
        receipt_retry_max_seconds=1.0,
        google_client_ids=f"other-client.apps.googleusercontent.com,{GOOGLE_CLIENT_ID}",
        google_certs_url=google_issuer.url,
        # The suite signs many users up from one address and opens many checkouts per student:
        # generous limits here; tests/security sets strict ones for the limits' own tests.
        **GENEROUS_LIMITS,
        # The holds' concurrency tests race dozens of holds on one student; the limit's own
        # tests (tests/holds/test_holds_limits.py) run an app with the default.
        holds_max_active_per_student=1000,
    )


@pytest.fixture(scope="session")
def live_app(
    settings: Settings, database: Database, stripe_emulator: EmulatorServer
) -> Iterator[LiveServer]:
    server = LiveServer(create_app(settings, database=database)).start()
    # Once the app listens, the emulator may deliver its webhooks there, signed as Stripe does.
    stripe_emulator.add_endpoint(f"{server.url}{WEBHOOK_PATH}", secret=STRIPE_WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture
def client(live_app: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_app.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def db(database: Database) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection for looking at (and, on purpose, breaking) rows."""
    with psycopg.connect(to_libpq_url(database.url), autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def services(settings: Settings, database: Database) -> Iterator[ServiceRunner]:
    runner = ServiceRunner(settings, database)
    yield runner
    runner.close()


@pytest.fixture
def student(client: httpx.Client, mailbox: Mailbox) -> Account:
    return sign_up(client, mailbox, role="student")


@pytest.fixture
def instructor(client: httpx.Client, mailbox: Mailbox) -> Account:
    return sign_up(client, mailbox, role="instructor")


@pytest.fixture(scope="session")
def admin(live_app: LiveServer, services: ServiceRunner) -> Account:
    """An administrator, created the way `medgrader create-admin` does, logged in over HTTP."""
    from medgrader.auth.service import create_admin

    email, password = "admin@example.com", "admin-password-123"
    services.in_transaction(
        lambda session, ctx: create_admin(session, ctx, email=email, password=password)
    )
    response = httpx.post(
        f"{live_app.url}/api/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(
        id=body["user"]["id"],
        email=email,
        password=password,
        token=body["accessToken"],
        role="instructor",
    )


@pytest.fixture
def invariants(db: psycopg.Connection) -> Iterator[None]:
    """Use in any money scenario: the ledger invariants must hold when the test ends."""
    yield
    assert_ledger_invariants(db)


@pytest.fixture(scope="session")
def fault_server() -> Iterator[EmbeddedServer]:
    """A PostgreSQL server of the fault tests' own: cutting its connections, stopping or
    restarting it disturbs no other test."""
    server = start_embedded_postgres(ROOT / ".data" / "faults", database="postgres")
    drop_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    ensure_database(server.libpq_url("postgres"), FAULTS_DATABASE)
    upgrade_to_head(server.sqlalchemy_url(FAULTS_DATABASE))
    yield server
    server.stop()


@pytest.fixture
def fault_settings(settings: Settings, fault_server: EmbeddedServer) -> Settings:
    return settings.model_copy(
        update={"database_url": fault_server.sqlalchemy_url(FAULTS_DATABASE)}
    )
