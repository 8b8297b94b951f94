"""An expiry is a debit too (issue 20): when lots expiring leave the available balance at or
below the threshold, one attempt is queued, whether the sweep writes the expiry or a read
settles the student first, and the charge credits the package once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from medgrader.holds.sweep import sweep_due
from tests.checkout.support import balance
from tests.lots.support import expire_lot, expiries, grant
from tests.support.accounts import Account
from tests.support.services import ServiceRunner
from tests.topups.support import attempts, save_card, top_up_entries, turn_on


@pytest.mark.parametrize("settled_by", ["sweep", "read"])
def test_credits_expiring_below_the_threshold_top_up_once(
    settled_by: str,
    client: httpx.Client,
    student: Account,
    stripe_emulator: Any,
    packages: dict[str, dict[str, Any]],
    db: psycopg.Connection,
    services: ServiceRunner,
    run_jobs: Callable[[], None],
    invariants: None,
) -> None:
    save_card(client, student, stripe_emulator)
    start = balance(db, student.id)
    entry = grant(services, student.id, 60, expires_at=datetime.now(UTC) + timedelta(hours=1))
    # The threshold sits at what is left once the 60 expire: above it until then.
    turn_on(client, student, packages["starter"], threshold=start)  # 100 credits for 1000p
    assert attempts(db, student.id) == []
    lot = expire_lot(db, entry)
    for _ in range(2):  # twice: still one attempt
        if settled_by == "sweep":
            services.in_transaction(lambda session, _: sweep_due(session))
        else:
            shown = client.get("/api/credits/balance", headers=student.headers)
            assert shown.status_code == 200, shown.text
            assert shown.json()["balance"] == start
    assert expiries(db, student.id) == [(f"lot:{lot}", 60)]
    queued = attempts(db, student.id)
    assert [(a["status"], a["credits"], a["amount_pence"]) for a in queued] == [
        ("QUEUED", 100, 1000)
    ]
    run_jobs()
    stripe_emulator.wait_for_deliveries()
    done = attempts(db, student.id)[0]
    assert done["status"] == "SUCCEEDED"
    assert balance(db, student.id) == start + 100
    assert top_up_entries(db, student.id) == [(str(done["id"]), 100)]
