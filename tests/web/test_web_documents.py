"""VAT documents in the pages: the wallet's payment links its receipt's PDF, the back office's
payment page its documents, the dashboard this quarter's VAT due, the exports page the
documents' CSV (whose signed VAT column sums to the report's VAT due)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from medgrader.core.days import today_in_london
from stripe_emulator.testing import EmulatorServer
from tests.documents.support import pdf_text
from tests.payments.returns_support import admin_refund, buy_and_pay
from tests.support.accounts import Account, sign_up
from tests.support.live_server import LiveServer
from tests.support.mailbox import Mailbox
from tests.web.support import admin_client, page_client, sign_in


def test_wallet_and_back_office_link_the_documents(
    web_app: LiveServer, admin: Account, student: Account, client: httpx.Client,
    packages: dict[str, Any], stripe_emulator: EmulatorServer, db: psycopg.Connection,
    mailbox: Mailbox, run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    with page_client(web_app) as http:
        assert sign_in(http, student.email, student.password).status_code == 303
        waiting = http.get(f"/wallet/payments/{paid.payment_id}")
        assert "The receipt is on its way" in waiting.text
        run_jobs()
        page = http.get(f"/wallet/payments/{paid.payment_id}")
        assert page.status_code == 200
        assert 'href="/wallet/documents/MG-000001.pdf"' in page.text
        pdf = http.get("/wallet/documents/MG-000001.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert "£45.00" in pdf_text(pdf.content)
    with page_client(web_app) as http:  # another student: nothing there
        other = sign_up(client, mailbox, role="student")
        assert sign_in(http, other.email, other.password).status_code == 303
        assert http.get("/wallet/documents/MG-000001.pdf").status_code == 404

    assert admin_refund(client, admin, paid.payment_id, amount=900).status_code == 201
    stripe_emulator.wait_for_deliveries(timeout=20)
    run_jobs()
    today = today_in_london().isoformat()
    with admin_client(web_app, admin) as http:
        page = http.get(f"/admin/payments/{paid.payment_id}")
        assert 'href="/admin/documents/MG-000001.pdf"' in page.text
        assert 'href="/admin/documents/MG-CN-000001.pdf"' in page.text
        note = http.get("/admin/documents/MG-CN-000001.pdf")
        assert "Credit note" in pdf_text(note.content)

        dashboard = http.get("/admin")
        # £45.00 carries £7.50; the £9.00 credit note £1.50: £6.00 due.
        assert '<strong id="vat-due">£6.00</strong>' in dashboard.text

        assert "vat-documents.csv" in http.get("/admin/exports").text
        exported = http.get("/admin/exports/vat-documents.csv",
                            params={"from": today, "to": today})  # fmt: skip
        assert exported.status_code == 200
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["number"], r["vat_pence"]) for r in rows] == [
            ("MG-000001", "750"), ("MG-CN-000001", "-150"),
        ]  # fmt: skip
        report = client.get("/api/admin/vat-report", headers=admin.headers).json()
        assert sum(int(r["vat_pence"]) for r in rows) == report["vatDueMinor"] == 600
        assert sum(int(r["net_pence"]) for r in rows) == report["netSalesMinor"]
