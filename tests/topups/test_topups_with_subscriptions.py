"""Automatic top-up under the subscriptions' schema (migration 0017 follows 0016): a top-up
payment's lot is still found by lots_purchase_lot (0017 redefines it with the invoice path and
must keep the top-up path), and a payment has exactly one source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.lots.support import lots
from tests.support.accounts import Account
from tests.topups.support import attempts, save_card, spend, turn_on


def test_a_top_up_payment_keeps_its_lot_and_its_one_source(
    client: httpx.Client,
    student: Account,
    stripe_emulator: Any,
    packages: dict[str, dict[str, Any]],
    db: psycopg.Connection,
    run_jobs: Callable[[], None],
    invariants: None,
) -> None:
    save_card(client, student, stripe_emulator)
    turn_on(client, student, packages["starter"], threshold=50)  # 100 credits for 1000p
    assert spend(client, student, 50).status_code == 201
    run_jobs()
    stripe_emulator.wait_for_deliveries()
    [done] = attempts(db, student.id)
    assert done["status"] == "SUCCEEDED"
    [lot] = [lot for lot in lots(db, student.id) if lot["source"] == "TOP_UP"]
    payment_id = db.execute(
        "SELECT id::text FROM payments WHERE top_up_attempt_id = %s", (done["id"],)
    ).fetchone()[0]
    # Without the top-up path in 0017's lots_purchase_lot this is NULL.
    assert db.execute("SELECT (lots_purchase_lot(%s)).id", (payment_id,)).fetchone() == (lot["id"],)
    # A second source (an invoice) next to the attempt: ck_payments_one_source refuses it.
    with pytest.raises(psycopg.errors.CheckViolation, match="one_source"), db.transaction():
        db.execute(
            "UPDATE payments SET stripe_invoice_id = 'in_twice' WHERE id::text = %s",
            (payment_id,),
        )
