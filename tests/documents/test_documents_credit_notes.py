"""Credit notes for refunds that succeed and disputes lost, debit notes for refunds that fail
afterwards: one each, in their own gap-free series, whatever order and however often the
events arrive; never more VAT credited than the receipt's, a full refund exactly the receipt's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import settle_webhooks
from tests.documents.support import (
    assert_series_gap_free,
    documents,
    pdf_attachments,
    pdf_text,
)
from tests.payments.returns_support import admin_refund, buy_and_pay, events_of
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox

REFUND_FAILS = "4000000000005126"


def _by_type(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["type"] == kind]


def test_two_partial_refunds_reverse_exactly_the_receipts_vat(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])  # £10.00
    first = admin_refund(client, admin, paid.payment_id, amount=500)
    assert first.status_code == 201, first.text
    settle_webhooks(stripe_emulator)
    run_jobs()
    rows = documents(db, paid.payment_id)
    (receipt,) = _by_type(rows, "RECEIPT")
    (note,) = _by_type(rows, "CREDIT_NOTE")
    assert receipt["vat_minor"] == 167
    assert (note["number"], note["total_minor"], note["vat_minor"], note["net_minor"]) == (
        "MG-CN-000001", 500, 83, 417,
    )  # fmt: skip
    assert note["receipt_id"] == receipt["id"]

    # The refund email carries the credit note.
    notices = [m for m in mailbox.messages() if "Credits" in str(m["Subject"])
               and pdf_attachments(m).get("MG-CN-000001.pdf")]  # fmt: skip
    assert len(notices) == 1
    text = pdf_text(pdf_attachments(notices[0])["MG-CN-000001.pdf"])
    for field in ("Credit note", "MG-CN-000001", "Against receipt: MG-000001", "£5.00", "£0.83"):
        assert field in text, field

    second = admin_refund(client, admin, paid.payment_id, amount=500)
    assert second.status_code == 201, second.text
    settle_webhooks(stripe_emulator)
    run_jobs()
    notes = _by_type(documents(db, paid.payment_id), "CREDIT_NOTE")
    assert [(n["number"], n["vat_minor"]) for n in notes] == [
        ("MG-CN-000001", 83), ("MG-CN-000002", 84),
    ]  # fmt: skip
    assert sum(n["vat_minor"] for n in notes) == receipt["vat_minor"]
    assert sum(n["net_minor"] for n in notes) == receipt["net_minor"]

    # Every event again: nothing more is issued.
    for event in events_of(stripe_emulator, paid):
        stripe_emulator.resend(event["id"])
    settle_webhooks(stripe_emulator)
    run_jobs()
    assert len(documents(db, paid.payment_id)) == 3
    assert_series_gap_free(db)


def test_a_refund_that_fails_after_succeeding_gets_a_debit_note(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"], REFUND_FAILS)
    assert admin_refund(client, admin, paid.payment_id).status_code == 201
    settle_webhooks(stripe_emulator)
    # No job runs before the refund fails: the credit note is due all the same (the refund
    # was seen succeeded), then its debit note.
    stripe_emulator.advance_clock(120)
    settle_webhooks(stripe_emulator)
    run_jobs()
    rows = documents(db, paid.payment_id)
    (credit,) = _by_type(rows, "CREDIT_NOTE")
    (debit,) = _by_type(rows, "DEBIT_NOTE")
    assert (credit["number"], debit["number"]) == ("MG-CN-000001", "MG-CN-000002")
    assert debit["cancels_id"] == credit["id"]
    assert (debit["total_minor"], debit["vat_minor"], debit["net_minor"]) == (
        credit["total_minor"], credit["vat_minor"], credit["net_minor"],
    )  # fmt: skip
    assert (credit["total_minor"], credit["vat_minor"]) == (4500, 750)
    listed = client.get(f"/api/payments/{paid.payment_id}/documents", headers=student.headers)
    assert [d["type"] for d in listed.json()] == ["RECEIPT", "CREDIT_NOTE", "DEBIT_NOTE"]
    text = pdf_text(client.get(listed.json()[2]["url"], headers=student.headers).content)
    assert "Cancels credit note: MG-CN-000001" in text

    # What failed is refunded again: a new credit note, still within the receipt.
    assert admin_refund(client, admin, paid.payment_id, amount=1000).status_code == 201
    settle_webhooks(stripe_emulator)
    run_jobs()
    notes = _by_type(documents(db, paid.payment_id), "CREDIT_NOTE")
    assert [(n["number"], n["total_minor"], n["vat_minor"]) for n in notes][-1] == (
        "MG-CN-000003", 1000, 167,
    )  # fmt: skip
    assert_series_gap_free(db)


def test_a_lost_dispute_gets_a_credit_note(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
    invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["premium"])
    dispute = stripe_emulator.dispute(payment_intent=paid.payment_intent, reason="fraudulent")
    settle_webhooks(stripe_emulator)
    run_jobs()
    assert _by_type(documents(db, paid.payment_id), "CREDIT_NOTE") == []  # open: not yet
    stripe_emulator.close_dispute(dispute["id"], "lost")
    settle_webhooks(stripe_emulator)
    run_jobs()
    (note,) = _by_type(documents(db, paid.payment_id), "CREDIT_NOTE")
    assert (note["total_minor"], note["vat_minor"], note["net_minor"]) == (8000, 1333, 6667)
    assert note["dispute_id"] is not None
    assert "Dispute lost" in note["description"]
