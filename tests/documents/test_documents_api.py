"""GET /api/payments/{id}/documents, GET /api/documents/{number}.pdf (owner or admin; anyone
else 404) and the billing details that make later receipts full VAT invoices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from stripe_emulator.testing import EmulatorServer
from tests.documents.support import documents, pdf_text
from tests.payments.returns_support import buy_and_pay
from tests.support.accounts import Account, sign_up
from tests.support.mailbox import Mailbox

BILLING = {
    "name": "Dr Ada Lovelace",
    "addressLine1": "12 Analytical Row",
    "addressLine2": "Flat 3",
    "city": "London",
    "postcode": "NW1 2AB",
    "country": "United Kingdom",
    "companyName": "Engines Ltd",
    "vatNumber": "gb 987 6543 21",
}


def test_owner_and_admin_get_the_documents_and_pdf_others_get_404(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["premium"])
    run_jobs()
    url = f"/api/payments/{paid.payment_id}/documents"
    response = client.get(url, headers=student.headers)
    assert response.status_code == 200, response.text
    (listed,) = response.json()
    assert listed == {
        "number": "MG-000001", "type": "RECEIPT", "issuedAt": listed["issuedAt"],
        "totalMinor": 8000, "vatMinor": 1333, "netMinor": 6667,
        "url": "/api/documents/MG-000001.pdf",
    }  # fmt: skip
    assert client.get(url, headers=admin.headers).json() == [listed]

    pdf = client.get(listed["url"], headers=student.headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "MG-000001" in text
    assert "£80.00" in text
    assert "£13.33" in text
    # Rendered again from the stored fields: the same content, byte for byte.
    assert client.get(listed["url"], headers=admin.headers).content == pdf.content

    other = sign_up(client, mailbox, role="student")
    for path in (url, listed["url"], "/api/documents/MG-999999.pdf"):
        refused = client.get(path, headers=other.headers)
        assert refused.status_code == 404, path
        assert refused.json()["code"] in ("payment_not_found", "document_not_found")
    assert client.get(listed["url"]).status_code == 401


def test_billing_details_make_later_receipts_full_vat_invoices(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    before = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    run_jobs()
    assert client.get("/api/billing-details", headers=student.headers).status_code == 404

    saved = client.put("/api/billing-details", json=BILLING, headers=student.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["vatNumber"] == "GB987654321"
    got = client.get("/api/billing-details", headers=student.headers).json()
    assert got["companyName"] == "Engines Ltd"
    assert got["addressLine2"] == "Flat 3"

    after = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    run_jobs()
    (old,) = documents(db, before.payment_id)
    (new,) = documents(db, after.payment_id)
    assert old["form"] == "SIMPLIFIED"  # issued before: never changed
    assert old["buyer_address"] is None
    assert new["form"] == "FULL"
    assert new["buyer_name"] == "Dr Ada Lovelace"
    assert new["buyer_company"] == "Engines Ltd"
    assert new["buyer_vat_number"] == "GB987654321"
    pdf = client.get(f"/api/documents/{new['number']}.pdf", headers=student.headers)
    text = pdf_text(pdf.content)
    expected = ["VAT invoice", "Engines Ltd", "12 Analytical Row", "NW1 2AB", "GB987654321",
                "Unit price", "Net per line", "VAT rate: 20%", "Total VAT", "£1.67",
                "£8.33"]  # fmt: skip
    for field in expected:
        assert field in text, field


@pytest.mark.parametrize(
    "change",
    [{"vatNumber": "GB12345"}, {"vatNumber": "FR12345678901"}, {"name": " "}, {"city": None},
     {"postcode": "x" * 21}],
)  # fmt: skip
def test_bad_billing_details_are_refused_and_change_nothing(
    client: httpx.Client, student: Account, change: dict[str, Any]
) -> None:
    assert client.put("/api/billing-details", json=BILLING, headers=student.headers).is_success
    response = client.put("/api/billing-details", json=BILLING | change, headers=student.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] in ("invalid_vat_number", "validation_error")
    assert body["error"]
    assert client.get("/api/billing-details", headers=student.headers).json()["vatNumber"] == (
        "GB987654321"
    )


def test_over_250_pounds_is_a_full_vat_invoice_without_billing_details(
    client: httpx.Client, student: Account, admin: Account, stripe_emulator: EmulatorServer,
    db: psycopg.Connection, run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    response = client.post(
        "/api/credit-packages",
        json={"name": "Bulk", "description": "lots", "credits": 5000, "priceInCents": 25001},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    paid = buy_and_pay(client, stripe_emulator, db, student, response.json())
    run_jobs()
    (receipt,) = documents(db, paid.payment_id)
    assert receipt["form"] == "FULL"
    assert (receipt["vat_minor"], receipt["net_minor"]) == (4167, 20834)
