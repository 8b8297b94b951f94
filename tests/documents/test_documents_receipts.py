"""Receipts: one per payment, issued off the webhook's path by a job, with gap-free numbers
(also when many are issued at once and some issuing transactions roll back), never changed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.core.context import AppContext
from medgrader.db.transactions import unit_of_work
from medgrader.documents.service import Seller, issue_due_documents
from medgrader.documents.tasks import issue_for_payment, sweep
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import receipts
from tests.documents.support import assert_series_gap_free, documents, pdf_attachments, pdf_text
from tests.payments.returns_support import buy_and_pay
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox
from tests.support.services import ServiceRunner


def test_a_purchase_gets_one_vat_receipt_with_its_pdf_in_the_email(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    # The fulfilling transaction only deferred the receipt's job: no document yet.
    assert documents(db, paid.payment_id) == []
    run_jobs()
    (receipt,) = documents(db, paid.payment_id)
    assert receipt["number"] == "MG-000001"
    assert (receipt["type"], receipt["form"], receipt["series"]) == (
        "RECEIPT", "SIMPLIFIED", "RECEIPTS",
    )  # fmt: skip
    # £45.00 at 20 %: £7.50 VAT, £37.50 net.
    assert (receipt["total_minor"], receipt["vat_minor"], receipt["net_minor"]) == (4500, 750, 3750)
    assert receipt["vat_rate_percent"] == Decimal("20.00")
    assert receipt["seller_vat_number"] == "GB123456789"
    assert receipt["buyer_email"] == student.email
    payment_time = db.execute("SELECT paid_at FROM payments WHERE id = %s",
                              (paid.payment_id,)).fetchone()  # fmt: skip
    assert payment_time is not None
    assert receipt["supplied_at"] == payment_time[0]

    (mail,) = receipts(mailbox, student.email)
    attachments = pdf_attachments(mail)
    assert list(attachments) == ["MG-000001.pdf"]
    text = pdf_text(attachments["MG-000001.pdf"])
    expected = ["MG-000001", "MedGrader Test Ltd", "GB123456789", "1 Test Street", student.email,
                "500 credits", "£45.00", "£7.50", "£37.50", "VAT at 20%"]  # fmt: skip
    for field in expected:
        assert field in text, field

    # Running the documents' job again (or the sweep) issues nothing more.
    run_jobs()
    assert len(documents(db, paid.payment_id)) == 1


def test_numbers_are_gap_free_when_many_issue_at_once_and_some_roll_back(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
    invariants: None,
) -> None:  # fmt: skip
    payment_ids = [
        uuid.UUID(buy_and_pay(client, stripe_emulator, db, student, packages["starter"]).payment_id)
        for _ in range(8)
    ]

    class Abandoned(Exception):
        pass

    async def issue_then_roll_back(ctx: AppContext, payment_id: uuid.UUID) -> list[Any]:
        """Issues (takes a number, unless a racer was first), then rolls back."""
        issued: list[Any] = []
        try:
            async with unit_of_work(ctx.db_pool) as db_:
                issued = await issue_due_documents(db_, Seller.of(ctx.settings), payment_id)
                raise Abandoned
        except Abandoned:
            return issued
        raise AssertionError("not rolled back")

    # Alone first: it surely took MG-000001, and gave it back.
    taken = services.run(lambda ctx: issue_then_roll_back(ctx, payment_ids[0]))
    assert [d.number for d in taken] == ["MG-000001"]
    assert documents(db) == []

    async def race(ctx: AppContext) -> list[Any]:
        work = [issue_for_payment(ctx, p) for p in payment_ids for _ in range(3)]
        work += [issue_then_roll_back(ctx, p) for p in payment_ids[:4]]
        return await asyncio.gather(*work)

    results = services.run(race)
    issued_numbers = sorted(
        n for numbers in results if numbers and isinstance(numbers[0], str) for n in numbers
    )
    assert issued_numbers == [f"MG-{i:06d}" for i in range(1, 9)]  # each issued exactly once
    rows = documents(db)
    assert len(rows) == 8
    assert sorted(str(r["payment_id"]) for r in rows) == sorted(map(str, payment_ids))
    assert_series_gap_free(db)
    # A new issue after all that continues the series.
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    assert services.run(lambda ctx: issue_for_payment(ctx, uuid.UUID(paid.payment_id))) == [
        "MG-000009"
    ]


def test_issued_documents_are_never_changed(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, run_jobs: Callable[[], None],
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    run_jobs()
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never changed"):
        db.execute("UPDATE documents SET total_minor = 1 WHERE payment_id = %s", (paid.payment_id,))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never changed"):
        db.execute("DELETE FROM documents WHERE payment_id = %s", (paid.payment_id,))
    assert documents(db, paid.payment_id)[0]["total_minor"] == 1000


def test_the_sweep_issues_a_receipt_whose_job_was_lost(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
) -> None:  # fmt: skip
    first = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    second = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    db.execute("DELETE FROM procrastinate_jobs")  # every job lost (failed for good, say)
    # Too young for the sweep by default: their jobs may still be on their way.
    assert services.run(lambda ctx: sweep(ctx)) == []
    issued = services.run(lambda ctx: sweep(ctx, grace=timedelta(0)))
    assert issued == ["MG-000001", "MG-000002"]  # in payment order
    assert documents(db, first.payment_id)[0]["number"] == "MG-000001"
    assert documents(db, second.payment_id)[0]["number"] == "MG-000002"
    assert services.run(lambda ctx: sweep(ctx, grace=timedelta(0))) == []


def test_not_vat_registered_gives_a_plain_receipt(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, services: ServiceRunner,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["value"])
    seller = Seller(name="Small Tutor", address="", vat_number=None,
                    rate_percent=Decimal(20), prefix="ST")  # fmt: skip

    async def issue(db_: Any, ctx: AppContext) -> list[Any]:
        return await issue_due_documents(db_, seller, uuid.UUID(paid.payment_id))

    (receipt,) = services.in_transaction(issue)
    assert receipt.number == "ST-000001"
    assert (receipt.form, receipt.vat_minor, receipt.net_minor, receipt.vat_rate_percent) == (
        "RECEIPT", 0, 4500, None,
    )  # fmt: skip
