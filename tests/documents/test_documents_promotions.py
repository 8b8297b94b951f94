"""A discounted purchase gets a receipt for what was paid: the list price and the discount
shown, VAT on the amount paid; a purchase discounted to nothing gets a £0.00 receipt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.checkout.support import assert_paid_once, packages, settle_webhooks
from tests.documents.support import assert_series_gap_free, documents, pdf_text
from tests.promotions.support import checkout, create_promotion
from tests.support.accounts import Account

__all__ = ["packages"]

pytestmark = pytest.mark.usefixtures("invariants")


def _pay_with_code(
    client: httpx.Client, stripe_emulator: Any, student: Account, package: dict[str, Any],
    code: str,
) -> str:  # fmt: skip
    created = checkout(client, student, package["id"], code)
    assert created.status_code == 201, created.text
    stripe_emulator.pay(created.json()["sessionId"])
    settle_webhooks(stripe_emulator)
    return str(created.json()["sessionId"])


def _payment_of(db: psycopg.Connection, session_id: str) -> str:
    row = db.execute(
        "SELECT p.id FROM payments p JOIN checkout_sessions cs ON cs.id = p.checkout_session_id"
        " WHERE cs.stripe_session_id = %s",
        (session_id,),
    ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(
    ("discount", "paid", "vat"),
    [
        ({"discountAmountMinor": 500}, 4000, 667),  # £45.00 - £5.00: VAT 40.00 * 20 / 120
        ({"discountPercent": 100}, 0, 0),  # free: a £0.00 receipt, no VAT
    ],
    ids=["partly", "wholly"],
)
def test_a_discounted_purchase_gets_a_receipt_for_what_was_paid(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: Any, db: psycopg.Connection, run_jobs: Callable[[], None],
    discount: dict[str, int], paid: int, vat: int,
) -> None:  # fmt: skip
    value = packages["value"]  # 500 credits, 4500 pence
    promo = create_promotion(client, admin, **discount)
    session_id = _pay_with_code(client, stripe_emulator, student, value, promo["code"])
    assert_paid_once(db, student.id, session_id, 500, paid)
    payment_id = _payment_of(db, session_id)
    run_jobs()

    (receipt,) = documents(db, payment_id)
    assert (receipt["list_total_minor"], receipt["discount_minor"]) == (4500, 4500 - paid)
    assert (receipt["total_minor"], receipt["vat_minor"]) == (paid, vat)
    assert receipt["net_minor"] == paid - vat
    assert_series_gap_free(db)

    pdf = client.get(f"/api/documents/{receipt['number']}.pdf", headers=student.headers)
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert "£45.00" in text
    assert f"-£{(4500 - paid) / 100:.2f}" in text
    assert f"£{paid / 100:.2f}" in text
