"""Every email has its own Message-ID: two refund notices about one payment do not share one
(a mail client that drops repeated ids would hide the second), nor do they share the receipt's
or the sign-up code's. Over real SMTP, after real refunds through the Stripe emulator."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import httpx
import psycopg

from medgrader.config import Settings
from stripe_emulator.testing import EmulatorServer
from tests.payments.returns_support import admin_refund, buy_and_pay
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox


def test_two_refund_notices_for_one_payment_carry_different_ids(
    client: httpx.Client, student: Account, admin: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    settings: Settings, invariants: None,
) -> None:  # fmt: skip
    paid = buy_and_pay(client, stripe_emulator, db, student, packages["starter"])
    for amount in (300, 400):
        refunded = admin_refund(client, admin, paid.payment_id, amount=amount)
        assert refunded.status_code == 201, refunded.text

    def to_student(subject: str) -> Any:
        return lambda m: student.email in str(m["To"]) and subject in str(m["Subject"])

    notices = mailbox.wait_for(to_student("Credits Taken Back"), count=2)
    assert sorted(str(m["Subject"]) for m in notices) == [
        "30 Credits Taken Back",
        "40 Credits Taken Back",
    ]
    (receipt,) = mailbox.wait_for(to_student("Credits Added"))
    (code,) = mailbox.wait_for(to_student("verification code"))
    ids = [str(m["Message-ID"]) for m in (*notices, receipt, code)]
    assert len(set(ids)) == len(ids), ids
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2]
    for one in ids:
        assert one.startswith("<"), one
        assert one.endswith(f"@{domain}>"), one
    # Each notice is named after its own ledger entry, the receipt after its payment.
    entries = db.execute(
        "SELECT id::text FROM credit_transactions WHERE source_type = 'REFUND'"
        " AND metadata ->> 'paymentId' = %s",
        (paid.payment_id,),
    ).fetchall()
    assert sorted(str(m["Message-ID"]) for m in notices) == sorted(
        f"<returns-{entry}@{domain}>" for (entry,) in entries
    )
    assert str(receipt["Message-ID"]) == f"<receipt-{paid.payment_id}@{domain}>"
