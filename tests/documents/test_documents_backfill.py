"""`medgrader documents backfill`: documents for payments made before documents existed, in
payment order, once; run again, it issues nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import psycopg

from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import settle_webhooks
from tests.conftest import ROOT
from tests.documents.support import assert_series_gap_free, documents
from tests.payments.returns_support import admin_refund, buy_and_pay
from tests.support.accounts import Account


def backfill(database: Database) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DATABASE_URL": to_libpq_url(database.url),
        "ENVIRONMENT": "test",
        "VAT_NUMBER": "GB123456789",
        "SELLER_NAME": "MedGrader Test Ltd",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "documents", "backfill"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_backfill_issues_in_payment_order_once(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, database: Database,
) -> None:  # fmt: skip
    paid = [buy_and_pay(client, stripe_emulator, db, student, packages[name])
            for name in ("premium", "starter", "value")]  # fmt: skip
    assert admin_refund(client, admin, paid[1].payment_id, amount=1000).status_code == 201
    settle_webhooks(stripe_emulator)
    # Made "before this change": their jobs never ran (nor will).
    db.execute("DELETE FROM procrastinate_jobs")
    assert documents(db) == []

    run = backfill(database)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "issued 3 receipts and 1 credit/debit notes for 3 payments" in run.stdout
    numbers = [d["number"] for p in paid for d in documents(db, p.payment_id)
               if d["type"] == "RECEIPT"]  # fmt: skip
    assert numbers == ["MG-000001", "MG-000002", "MG-000003"]  # in payment order
    (note,) = [d for d in documents(db, paid[1].payment_id) if d["type"] == "CREDIT_NOTE"]
    assert (note["number"], note["total_minor"], note["vat_minor"]) == ("MG-CN-000001", 1000, 167)
    assert_series_gap_free(db)

    again = backfill(database)
    assert again.returncode == 0
    assert "issued 0 receipts and 0 credit/debit notes for 0 payments" in again.stdout
    assert len(documents(db)) == 4
