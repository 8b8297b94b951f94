"""The OpenAPI document tells the truth: schemathesis (v4, every check) against the real app.

A bounded run (`SCHEMATHESIS_MAX_TIME` seconds, default 60, over every operation) that fails
on any 5xx, any response that does not match its documented schema, content type or headers,
any undocumented status, any schema-valid request refused or schema-invalid one accepted, and
auth that is documented but not enforced. It runs on a database of its own (what it creates
must not leak into the other tests), as a student and, for admin routes, as an administrator;
the ledger invariants must hold on that database afterwards.

Per operation, the answers a valid request may legitimately get besides 2xx/401/403/404/409/429
are listed in `EXPECTED` below, each with its reason: they are domain answers (a wrong code, an
unknown cursor, too few credits), not contract gaps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from medgrader.app import create_app
from medgrader.config import Settings
from medgrader.db.embedded import drop_database
from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from tests.conftest import TEST_DATABASE
from tests.support.accounts import sign_up
from tests.support.databases import open_test_server
from tests.support.invariants import assert_ledger_invariants
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner

# End-to-end: schemathesis drives the app over HTTP, as a client would.
pytestmark = pytest.mark.e2e

DEFAULT_EXPECTED = ["2xx", "401", "403", "404", "409", "429"]
# path regex -> extra statuses a schema-valid request may get, and why.
EXPECTED = {
    # The available balance does not cover the amount.
    "^/api/credits/spend$": ["402"],
    # Too few credits, or an extension that would take this hold past the largest one
    # (hold_too_large: it depends on the hold's amount, not the schema).
    "^/api/credits/holds/[^/]+/extend$": ["402", "422"],
    # Too few credits, or more than this hold holds (it depends on the hold, not the schema).
    "^/api/credits/holds/[^/]+/capture$": ["402", "422"],
    # More than this payment has left to refund (amount_not_refundable).
    "^/api/admin/payments/[^/]+/refunds$": ["422"],
    # Both: an unknown cursor (GET), too few credits for the hold (POST).
    "^/api/credits/holds$": ["400", "402"],
    # An opaque cursor this API did not hand out.
    "^/api/credits/transactions$|^/api/payments/checkout-sessions$|^/api/payments$"
    "|^/api/admin/payments$|^/api/admin/webhook-events$|^/api/credits/lots$": ["400"],
    "^/api/auth/verify-otp$|^/api/auth/password-reset/confirm$": ["400"],  # wrong code
    "^/api/webhooks/stripe$": ["400"],  # not signed by Stripe
    # A reversed range, a daily range over 366 days or a day that does not exist (2026-02-30):
    # each date is well-formed alone, the range is refused as a whole (invalid_range).
    "^/api/admin/analytics/(summary|daily|credit-liability)$": ["422"],
    # An expiresAt with a negative amount, or in the past: each field is valid alone.
    "^/api/admin/students/[^/]+/credit-adjustments$": ["422"],
    # The chosen package is off sale, or costs more than the monthly limit (it depends on the
    # package, not the schema).
    "^/api/credits/auto-top-up$": ["422"],
    # A promotion code that does not apply (unknown, exhausted, used, not this package...).
    "^/api/payments/credit-checkout(/preview)?$|^/api/credits/redeem$": ["422"],
    # A promotion's fields taken together (one discount, a purchase or a credit code, endsAt
    # after startsAt, packages that exist): each field is valid alone.
    "^/api/admin/promotions(/[^/]+)?$": ["422"],
    # A plan's fields taken together (rolloverMaxCredits at most creditsPerPeriod); a plan
    # that takes no new subscribers (plan_not_available), a change to the same plan or one of
    # another interval: each depends on the plan, not the schema.
    "^/api/admin/plans(/[^/]+)?$|^/api/subscriptions/(checkout|current/change)$": ["422"],
    # The same for the VAT report's range (a day before 1970 too: one alone is in its range).
    "^/api/admin/vat-report$": ["422"],
    # A VAT number that is not GB and 9 or 12 digits (invalid_vat_number: spaces, dots and
    # dashes as people write them are allowed, so the shape is the rule's, not the schema's).
    "^/api/billing-details$": ["422"],
}
# Run as the administrator: the admin routes and the catalogue's writes (by operation id:
# FastAPI names each one after its function and path).
ADMIN_OPERATIONS = "^(create|update|delete)_package_|_api_admin_"
# Checks that do not apply, and why (everything else runs). The DELETEs in the API are the
# catalogue's, a soft delete by contract, and a saved card's (detached at Stripe, with no GET of
# its own to look at afterwards). The catalogue's (DESIGN.md: isActive=false, never removed):
# admins still see a deactivated package, and students never see an inactive one (also one
# created so).
# The test asserts that no other DELETE exists, so a real one gets these checks back.
NOT_APPLICABLE = ["use_after_free", "ensure_resource_availability"]
# DELETEs whose resource answers on afterwards (a soft delete), or that have no GET of their own
# for use_after_free to look at (a saved card is detached at Stripe: it has only the list).
SOFT_DELETES = {
    "/api/credit-packages/{package_id}",
    "/api/credits/payment-methods/{payment_method_id}",
}


def _database_named(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def contract_database() -> Iterator[Database]:
    """A copy of the migrated template, this pytest process's own."""
    name = f"{TEST_DATABASE}_contract"
    server = open_test_server([name])
    yield Database(url=server.url(name), embedded=None)
    drop_database(server.admin_url, name)


@pytest.fixture(scope="module")
def contract_app(
    live_settings: Settings, contract_database: Database
) -> Iterator[tuple[LiveServer, Settings]]:
    # With its job worker: /health (in the document) answers 503 job_worker_dead, truthfully,
    # on a database where no worker runs.
    changed = live_settings.model_copy(
        update={"database_url": contract_database.url, "run_worker_in_process": True}
    )
    server = LiveServer(create_app(changed, database=contract_database)).start()
    yield server, changed
    server.stop()


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _config(url: str, student: str, admin: str, throwaway: str) -> str:
    lines = [
        f'base-url = "{url}"',
        "[headers]",
        f'Authorization = "Bearer {student}"',
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {_toml_list(DEFAULT_EXPECTED)}",
    ]
    for path, extra in EXPECTED.items():
        lines += [
            "[[operations]]",
            f"include-path-regex = '{path}'",
            "[operations.checks.positive_data_acceptance]",
            f"expected-statuses = {_toml_list(DEFAULT_EXPECTED + extra)}",
        ]
    lines += [
        "[[operations]]",
        f"include-operation-id-regex = '{ADMIN_OPERATIONS}'",
        "[operations.headers]",
        f'Authorization = "Bearer {admin}"',
    ]
    # Logout revokes the token it is given: never the student's that the rest of the run uses.
    lines += [
        "[[operations]]",
        "include-path = '/api/auth/logout'",
        "[operations.headers]",
        f'Authorization = "Bearer {throwaway}"',
    ]
    return "\n".join(lines) + "\n"


def test_the_openapi_document_is_exact(
    contract_app: tuple[LiveServer, Settings],
    contract_database: Database,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    server, settings = contract_app
    from medgrader.auth.service import create_admin

    runner = ServiceRunner(settings, contract_database)
    try:
        runner.in_transaction(
            lambda session, ctx: create_admin(
                session, ctx, email="contract-admin@example.com", password="contract-admin-pw"
            )
        )
    finally:
        runner.close()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        admin = http.post(
            "/api/auth/login",
            json={"email": "contract-admin@example.com", "password": "contract-admin-pw"},
        ).json()["accessToken"]
        student = sign_up(http, mailbox).token
        throwaway = sign_up(http, mailbox).token
        document = http.get("/openapi.json").json()
    deletes = {path for path, item in document["paths"].items() if "delete" in item}
    assert deletes <= SOFT_DELETES, f"a new DELETE: give it use_after_free back: {deletes}"

    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(server.url, student, admin, throwaway))
    max_time = os.environ.get("SCHEMATHESIS_MAX_TIME", "60")
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file", str(config),
        "--no-color",
        "run", f"{server.url}/openapi.json",
        "--checks", "all",
        "--exclude-checks", ",".join(NOT_APPLICABLE),
        "--max-time", max_time,
        "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40"),
        # One worker: hypothesis' lambda descriptions hit a CPython 3.11 ast bug in threads.
        "--workers", "1",
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261201"),
        "--request-timeout", "20",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=int(max_time) + 240,
        check=False,
    )
    output = result.stdout[-20000:] + result.stderr[-5000:]
    print(output)
    assert result.returncode == 0, output

    with psycopg.connect(to_libpq_url(contract_database.url), autocommit=True) as db:
        assert_ledger_invariants(db)
