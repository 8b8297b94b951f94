"""Receipt emails: sent by the job worker after the purchase commits, retried while SMTP is
down or the database fails for a moment, rescued when their worker died mid-job, and recorded
as sent at most once per purchase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from medgrader.checkout.fulfilment import apply_stripe_session
from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.jobs.queues import RECEIPT_TASK, RECEIPTS_QUEUE
from medgrader.notifications import receipts as receipts_repository
from medgrader.notifications.tasks import retry_stalled_receipts
from stripe_emulator.testing import EmulatorServer
from tests.checkout.support import (
    assert_paid_once,
    receipts,
    retrieve_session,
    settle_webhooks,
    start_checkout,
    wait_until,
    webhooks_paused,
)
from tests.support.accounts import Account
from tests.support.mailbox import Mailbox, text_body
from tests.support.services import ServiceRunner


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


@pytest.mark.e2e  # a real SMTP server, stopped and started, and the worker's back-off
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


def test_receipt_not_sent_again_once_recorded(
    client: httpx.Client, student: Account, packages: dict[str, Any], services: Any,
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    run_jobs: Callable[[], None], invariants: None,
) -> None:  # fmt: skip
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    payment_id = str(assert_paid_once(db, student.id, session_id, 100, 1000)["id"])
    run_jobs()
    wait_until(lambda: receipt_sent_at(db, payment_id) is not None, what="the receipt")
    first = receipt_sent_at(db, payment_id)

    # A second job for the same payment (say, an operator re-queued it) sends nothing.
    from medgrader.jobs.queue import defer_in_transaction

    services.in_transaction(
        lambda session, ctx: defer_in_transaction(
            session, RECEIPT_TASK, queue=RECEIPTS_QUEUE, payment_id=payment_id
        )
    )
    run_jobs()
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


@pytest.mark.e2e  # a real fault (pg_terminate_backend) and the worker's back-off
def test_database_error_on_the_first_attempt_is_retried_and_one_receipt_arrives(
    client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch, invariants: None,
) -> None:  # fmt: skip
    # The receipt job's first look at each payment loses its database connection for real:
    # the backend is terminated under it, as in a failover or a server restart.
    real_lock = receipts_repository.lock_for_receipt
    failed: list[str] = []

    async def lose_connection_once(session: Db, payment_id: Any) -> Any:
        if str(payment_id) not in failed:
            failed.append(str(payment_id))
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return await real_lock(session, payment_id)

    monkeypatch.setattr(receipts_repository, "lock_for_receipt", lose_connection_once)
    session_id = start_checkout(client, student, packages["starter"]["id"])["sessionId"]
    stripe_emulator.pay(session_id)
    settle_webhooks(stripe_emulator)
    payment_id = str(assert_paid_once(db, student.id, session_id, 100, 1000)["id"])
    wait_until(
        lambda: (job := receipt_job(db, payment_id)) is not None and job[0] == "succeeded",
        what="the receipt job to succeed",
    )
    assert payment_id in failed
    job = receipt_job(db, payment_id)
    assert job is not None
    assert job[1] == 2  # procrastinate counts the failed attempt and the one that succeeded
    assert len(receipts(mailbox, student.email)) == 1
    assert receipt_sent_at(db, payment_id) is not None


def test_a_stalled_receipt_job_is_retried_by_the_periodic_task(
    app_url: str, client: httpx.Client, student: Account, packages: dict[str, Any],
    stripe_emulator: EmulatorServer, db: psycopg.Connection, mailbox: Mailbox,
    services: ServiceRunner, invariants: None,
) -> None:  # fmt: skip
    # A worker that was killed mid-job leaves its job 'doing' under a worker row whose
    # heartbeat stopped. Built here in the purchase's own transaction, so no live worker can
    # take the job first.
    session_id = start_checkout(client, student, packages["value"]["id"])["sessionId"]
    with webhooks_paused(stripe_emulator, app_url):
        stripe_emulator.pay(session_id)
    remote = retrieve_session(stripe_emulator, session_id)
    row = db.execute(
        "INSERT INTO procrastinate_workers (last_heartbeat) "
        "VALUES (now() - interval '1 hour') RETURNING id"
    ).fetchone()
    assert row is not None
    dead_worker = row[0]

    async def fulfil_and_stall(session: Db, ctx: AppContext) -> str:
        outcome = await apply_stripe_session(session, remote)
        assert outcome.credited
        stalled = await session.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker "
                "WHERE task_name = :task AND args ->> 'payment_id' = :payment RETURNING id"
            ),
            {"worker": dead_worker, "task": RECEIPT_TASK, "payment": str(outcome.payment_id)},
        )
        assert len(stalled.all()) == 1
        return str(outcome.payment_id)

    payment_id = services.in_transaction(fulfil_and_stall)
    assert_paid_once(db, student.id, session_id, 500, 4500)
    assert receipt_job(db, payment_id) == ("doing", 0)
    assert receipts(mailbox, student.email) == []

    retried = services.run(retry_stalled_receipts)
    assert len(retried) >= 1
    mail = mailbox.wait_for(
        lambda m: student.email in str(m["To"]) and "Payment Successful" in str(m["Subject"])
    )
    assert len(mail) == 1
    wait_until(
        lambda: receipt_job(db, payment_id) == ("succeeded", 2), what="the rescued job to succeed"
    )  # attempts: the stalled one (counted by the retry) and the one that succeeded
    assert receipt_sent_at(db, payment_id) is not None
    assert services.run(retry_stalled_receipts) == []  # nothing stalled any more
    db.execute("DELETE FROM procrastinate_workers WHERE id = %s", (dead_worker,))


def test_receipt_tasks_are_scheduled(services: ServiceRunner) -> None:
    periodic = {
        (p.task.name, p.cron) for p in services.ctx.jobs.periodic_registry.periodic_tasks.values()
    }
    assert ("notifications:retry_stalled_receipts", "2-59/5 * * * *") in periodic


def test_money_is_formatted_from_integer_pence() -> None:
    from medgrader.core.money import format_money

    assert format_money(1000) == "£10.00"
    assert format_money(4500) == "£45.00"
    assert format_money(5) == "£0.05"
    assert format_money(123456789) == "£1,234,567.89"
    assert format_money(-250) == "-£2.50"
    with pytest.raises(TypeError):
        format_money(10.0)  # type: ignore[arg-type]
