"""Receipt emails: sent by the job worker after the purchase commits, retried while SMTP is
down, and never twice for one purchase."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from medgrader.notifications.receipts import RECEIPT_TASK
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    assert_paid_once,
    receipts,
    settle_webhooks,
    start_checkout,
    wait_until,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox, text_body


def receipt_job(db: psycopg.Connection, payment_id: str) -> tuple[str, int] | None:
    row = db.execute(
        """SELECT status::text, attempts FROM procrastinate_jobs
            WHERE task_name = %s AND args ->> 'payment_id' = %s""",
        (RECEIPT_TASK, payment_id),
    ).fetchone()
    return (row[0], int(row[1])) if row else None


def receipt_sent_at(db: psycopg.Connection, payment_id: str) -> Any:
    row = db.execute("SELECT receipt_sent_at FROM payments WHERE id = %s", (payment_id,)).fetchone()
    assert row is not None
    return row[0]


def test_smtp_down_at_first_then_exactly_one_receipt(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["value"]["id"])["sessionId"]
    mailbox.stop()
    try:
        stripe_emulator.pay(session_id)
        settle_webhooks(stripe_emulator)
        payment_id = str(assert_paid_once(db, student.id, session_id, 500, 4500)["id"])
        # The worker has tried (and failed) at least twice: the job is waiting to retry.
        wait_until(
            lambda: (job := receipt_job(db, payment_id)) is not None and job[1] >= 2,
            what="two failed receipt attempts",
        )
        assert receipts(mailbox, student.email) == []
        assert receipt_sent_at(db, payment_id) is None
    finally:
        mailbox.start()

    mail = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "Payment Successful" in str(m["Subject"])
    )
    assert len(mail) == 1
    assert mail[0]["Subject"] == "Payment Successful - 500 Credits Added"
    assert "£45.00" in text_body(mail[0])
    wait_until(
        lambda: (job := receipt_job(db, payment_id)) is not None and job[0] == "succeeded",
        what="the receipt job to succeed",
    )
    assert receipt_sent_at(db, payment_id) is not None
    assert len(receipts(mailbox, student.email)) == 1


def test_receipt_never_sent_twice(
    client: httpx.Client, student: Account, packages: dict[str, Any], services: Any,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox, invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    payment_id = str(assert_paid_once(db, student.id, session_id, 100, 1000)["id"])
    wait_until(lambda: receipt_sent_at(db, payment_id) is not None, what="the receipt")
    first = receipt_sent_at(db, payment_id)

    # A second job for the same payment (say, an operator re-queued it) sends nothing.
    from medgrader.jobs.queue import defer_in_transaction

    services.in_transaction(
        lambda session, ctx: defer_in_transaction(
            ctx.jobs, session, RECEIPT_TASK, payment_id=payment_id
        )
    )
    wait_until(
        lambda: (
            db.execute(
                """SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s
                AND args ->> 'payment_id' = %s AND status = 'succeeded'""",
                (RECEIPT_TASK, payment_id),
            ).fetchone()
            == (2,)
        ),
        what="the second job to finish",
    )
    assert len(receipts(mailbox, student.email)) == 1
    assert receipt_sent_at(db, payment_id) == first


def test_money_is_formatted_from_integer_pence() -> None:
    import pytest

    from medgrader.notifications.money import format_money

    assert format_money(1000) == "£10.00"
    assert format_money(4500) == "£45.00"
    assert format_money(5) == "£0.05"
    assert format_money(123456789) == "£1,234,567.89"
    assert format_money(-250) == "-£2.50"
    with pytest.raises(TypeError):
        format_money(10.0)  # type: ignore[arg-type]
