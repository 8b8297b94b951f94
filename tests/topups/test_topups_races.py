"""A debit racing a settings change for the student's balance row lock, made deterministic
with real row locks (tests.support.locks): the posting's look at the settings
(ledger.threshold.top_up_on_sql) sees what committed while it waited."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from medgrader.db.engine import to_libpq_url
from tests.checkout.support import balance
from tests.lots.support import spend
from tests.support.accounts import Account
from tests.support.locks import blocked_on_row
from tests.support.services import ServiceRunner
from tests.topups.support import attempts, save_card, turn_on


def test_a_spend_waiting_while_top_up_is_turned_on_queues_the_attempt(
    client: httpx.Client, student: Account, stripe_emulator: Any,
    packages: dict[str, dict[str, Any]], db: psycopg.Connection, database: Any,
    services: ServiceRunner, invariants: None,
) -> None:  # fmt: skip
    # A posting skips the trigger's statement when the student has automatic top-up off, by
    # a look it takes in its own statement. That look must come after the lock: a spend that
    # began while a settings change held the student's row, and waited for it, must see the
    # settings that change committed (else the student sits at the threshold with top-up on
    # and nothing queued). Fails with the debit's lock_balance removed (the posting's own
    # lock inside ledger_post comes after its statement's snapshot).
    save_card(client, student, stripe_emulator)
    turn_on(client, student, packages["starter"], threshold=50)  # with the card; then off
    db.execute(
        "UPDATE auto_top_up_settings SET enabled = false WHERE student_id = %s", (student.id,)
    )
    to_threshold = balance(db, student.id) - 50
    with psycopg.connect(to_libpq_url(database.url)) as change, ThreadPoolExecutor(1) as pool:
        # The change, as topups.service.save_settings makes it: the row lock, then the
        # settings; held open until the spend waits for the row.
        pid = change.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        change.execute(
            "SELECT 1 FROM student_profiles WHERE user_id = %s FOR NO KEY UPDATE", (student.id,)
        )
        change.execute(
            "UPDATE auto_top_up_settings SET enabled = true WHERE student_id = %s", (student.id,)
        )
        spending = pool.submit(spend, services, student.id, to_threshold)
        asyncio.run(blocked_on_row(db, pid, "student_profiles"))  # raises if it never waits
        change.commit()
        assert spending.result() is not None
    assert balance(db, student.id) == 50
    assert [(a["status"], a["credits"]) for a in attempts(db, student.id)] == [("QUEUED", 100)]
