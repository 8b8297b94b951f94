"""The documents' audit checks (invariant 12) fire on the damage they exist for. Each case
damages real documents inside a transaction that is rolled back (the immutability trigger is
set aside there as a superuser could), and asserts which checks fired."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from medgrader.documents.audit import DOCUMENT_CHECKS
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import settle_webhooks
from tests.payments.returns_support import Paid, admin_refund, buy_and_pay
from tests.support.accounts import Account

Damage = Callable[[psycopg.Connection, Paid], None]


def receipt_never_issued(conn: psycopg.Connection, paid: Paid) -> None:
    conn.execute("DELETE FROM documents WHERE payment_id = %s", (paid.payment_id,))
    conn.execute("UPDATE payments SET created_at = now() - interval '1 hour' WHERE id = %s",
                 (paid.payment_id,))  # fmt: skip


def receipt_twice(conn: psycopg.Connection, paid: Paid) -> None:
    conn.execute("DROP INDEX uq_documents_receipt_payment")
    conn.execute(
        """INSERT INTO documents SELECT gen_random_uuid(), 'MG-000099', series, 2,
                  type, form, payment_id, student_id, receipt_id, refund_id, dispute_id,
                  cancels_id, issued_at, supplied_at, currency, seller_name, seller_address,
                  seller_vat_number, buyer_name, buyer_email, buyer_address, buyer_company,
                  buyer_vat_number, description, quantity, list_total_minor, discount_minor,
                  total_minor, vat_minor, net_minor, vat_rate_percent, created_at
             FROM documents WHERE payment_id = %s AND type = 'RECEIPT'""",
        (paid.payment_id,),
    )
    conn.execute("UPDATE document_counters SET last_number = 2 WHERE series = 'RECEIPTS'")


def number_skipped(conn: psycopg.Connection, paid: Paid) -> None:
    conn.execute("UPDATE documents SET sequence = 2, number = 'MG-000002' WHERE type = 'RECEIPT'")
    conn.execute("UPDATE document_counters SET last_number = 2 WHERE series = 'RECEIPTS'")


def note_past_its_receipt(conn: psycopg.Connection, paid: Paid) -> None:
    conn.execute("UPDATE documents SET vat_minor = vat_minor + 200, net_minor = net_minor - 200"
                 " WHERE type = 'CREDIT_NOTE'")  # fmt: skip


def refund_without_note(conn: psycopg.Connection, paid: Paid) -> None:
    conn.execute("DELETE FROM documents WHERE type = 'CREDIT_NOTE'")
    conn.execute("DELETE FROM document_counters WHERE series = 'CREDIT_NOTES'")
    conn.execute("UPDATE refunds SET succeeded_at = now() - interval '1 hour'")


CASES: list[tuple[Damage, set[str]]] = [
    # Its number is gone from the series too.
    (receipt_never_issued, {"one_receipt_per_payment", "document_numbers_without_gaps"}),
    (receipt_twice, {"one_receipt_per_payment"}),
    (number_skipped, {"document_numbers_without_gaps"}),
    (note_past_its_receipt, {"notes_within_receipt"}),
    (refund_without_note, {"credit_note_per_return"}),
]


def test_every_check_but_the_reports_has_a_case() -> None:
    # vat_report_equals_documents compares two computations over the same rows: no damage
    # to the data can make them differ, only a change to the report's SQL.
    fired = set().union(*(f for _, f in CASES))
    assert set(DOCUMENT_CHECKS) - fired == {"vat_report_equals_documents"}


@pytest.fixture
def scratch(database: Database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(to_libpq_url(database.url)) as connection:
        connection.execute("SET session_replication_role = replica")  # no trigger fires
        yield connection
        connection.rollback()


@pytest.mark.parametrize(("damage", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_check_fires(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
    scratch: psycopg.Connection, damage: Damage, fired: set[str],
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert admin_refund(client, admin, paid.payment_id, amount=300).status_code == 201
    settle_webhooks(stripe_emulator)
    run_jobs()

    def findings() -> set[str]:
        return {
            name for name, query in DOCUMENT_CHECKS.items() if scratch.execute(query).fetchall()
        }

    assert findings() == set()
    damage(scratch, paid)
    assert findings() == fired
