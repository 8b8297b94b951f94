"""The lean session's one piece of cleverness: knowing which statements yield rows, so that in
pipeline mode the others are queued instead of waited for."""

from __future__ import annotations

import pytest

from medgrader.checkout import repository as checkout_sql
from medgrader.ledger import service as ledger
from medgrader.payments import repository as payment_sql
from medgrader.webhooks import repository as inbox_sql
from medgrader.webhooks.lean import _compiled, returns_rows


@pytest.mark.parametrize(
    ("statement", "rows"),
    [
        (inbox_sql._INSERT, True),  # ON CONFLICT DO NOTHING RETURNING 1
        (inbox_sql._PROCESSED, False),
        (checkout_sql._LOCK_BY_STRIPE_ID, True),
        (checkout_sql._MARK, True),
        (checkout_sql._INSERT, True),
        (payment_sql._RECORD, False),  # a RETURNING inside the CTE only
        (payment_sql._RECEIPT, True),
        (payment_sql._RECEIPT_SENT, False),
        (ledger._CREDIT_SQL, True),
        (ledger._COVERED_DEBIT_SQL, True),
    ],
)
def test_statements_that_yield_rows(statement: object, rows: bool) -> None:
    assert _compiled(statement)[1] is rows  # type: ignore[arg-type]


def test_returns_rows_rules() -> None:
    assert returns_rows("select 1")
    assert returns_rows("  WITH a AS (SELECT 1) SELECT * FROM a")
    assert returns_rows("UPDATE t SET a = 1 RETURNING a")
    assert not returns_rows("UPDATE t SET a = 'RETURNING (' WHERE b = 2")
    assert not returns_rows("WITH a AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM a")
    assert returns_rows(
        "WITH a AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM a RETURNING 1"
    )
    assert not returns_rows("INSERT INTO t (a) VALUES (1)")
