"""GET /api/admin/vat-report: the VAT return's figures, exactly the sums of the documents
issued on the London days asked for; and the audit's document checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import psycopg

from medgrader.analytics.service import today_in_london
from medgrader.documents.report import quarter_of
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import settle_webhooks
from tests.documents.support import documents
from tests.payments.returns_support import admin_refund, buy_and_pay
from tests.support.accounts import Account
from tests.support.invariants import audit_findings


def test_the_report_sums_the_documents_of_the_range(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
    invariants: None,
) -> None:  # fmt: skip
    paid = [buy_and_pay(client, stripe_emulator, db, student, packages[name])
            for name in ("starter", "value", "premium")]  # fmt: skip
    assert admin_refund(client, admin, paid[0].payment_id, amount=500).status_code == 201
    settle_webhooks(stripe_emulator)
    run_jobs()
    today = today_in_london().isoformat()
    response = client.get("/api/admin/vat-report", params={"from": today, "to": today},
                          headers=admin.headers)  # fmt: skip
    assert response.status_code == 200, response.text
    report = response.json()
    # VAT: 167 + 750 + 1333 on £135.00 of sales; the credit note of £5.00 carries 83.
    assert report == {
        "from": today, "to": today,
        "salesNetMinor": 13500 - 2250, "salesVatMinor": 2250,
        "creditNotesNetMinor": 417, "creditNotesVatMinor": 83,
        "vatDueMinor": 2250 - 83, "netSalesMinor": 11250 - 417, "documents": 4,
    }  # fmt: skip
    rows = documents(db)
    signed = {"RECEIPT": 1, "CREDIT_NOTE": -1, "DEBIT_NOTE": 1}
    assert report["vatDueMinor"] == sum(signed[r["type"]] * r["vat_minor"] for r in rows)

    # Without a range: this quarter's.
    default = client.get("/api/admin/vat-report", headers=admin.headers).json()
    first, last = quarter_of(today_in_london())
    assert (default["from"], default["to"]) == (first.isoformat(), last.isoformat())
    assert default["vatDueMinor"] == report["vatDueMinor"]
    # Another range: nothing.
    empty = client.get("/api/admin/vat-report", params={"from": "2020-01-01", "to": "2020-03-31"},
                       headers=admin.headers).json()  # fmt: skip
    assert (empty["vatDueMinor"], empty["documents"]) == (0, 0)
    assert audit_findings(db) == []


def test_bad_ranges_and_strangers_are_refused(
    client: httpx.Client, student: Account, admin: Account
) -> None:
    reversed_range = client.get("/api/admin/vat-report", params={"from": "2026-02-01",
                                "to": "2026-01-01"}, headers=admin.headers)  # fmt: skip
    assert reversed_range.status_code == 422
    assert reversed_range.json()["code"] == "invalid_range"
    no_day = client.get("/api/admin/vat-report", params={"from": "2026-02-30"},
                        headers=admin.headers)  # fmt: skip
    assert no_day.status_code == 422
    assert client.get("/api/admin/vat-report", headers=student.headers).status_code == 403


def test_quarters() -> None:
    assert quarter_of(date(2026, 12, 5)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_of(date(2026, 1, 1)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarter_of(date(2024, 5, 31)) == (date(2024, 4, 1), date(2024, 6, 30))


def test_the_audit_finds_a_payment_without_its_receipt_and_a_gap(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    db.execute("DELETE FROM procrastinate_jobs")
    assert audit_findings(db) == []  # young: its job may still come
    db.execute("UPDATE payments SET created_at = now() - interval '1 hour' WHERE id = %s",
               (paid.payment_id,))  # fmt: skip
    assert [f[0] for f in audit_findings(db)] == ["one_receipt_per_payment"]
    # A counter moved past the documents: a gap.
    db.execute("UPDATE payments SET created_at = now() WHERE id = %s", (paid.payment_id,))
    db.execute("INSERT INTO document_counters VALUES ('RECEIPTS', 3)")
    assert [f[0] for f in audit_findings(db)] == ["document_numbers_without_gaps"]
    db.execute("DELETE FROM document_counters")
