"""The Db session: statements marked no_rows are queued, every other one is waited for, and
asking a queued statement for rows is an error rather than an empty answer."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from medgrader.checkout import repository as checkout_sql
from medgrader.db.session import Result, UnreadResult, _compiled_text, no_rows
from medgrader.holds import repository as holds_sql
from medgrader.idempotency import store as idempotency_sql
from medgrader.ledger import service as ledger
from medgrader.payments import repository as payment_sql
from medgrader.webhooks import repository as inbox_sql


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        (inbox_sql._CLAIM, True),
        (inbox_sql._FAILED, False),
        (inbox_sql._PROCESSED, False),
        (checkout_sql._LOCK_BY_STRIPE_ID, True),
        (checkout_sql._MARK, True),
        (checkout_sql._INSERT, True),
        (payment_sql._RECORD, False),
        (payment_sql._RECEIPT, True),
        (payment_sql._RECEIPT_SENT, False),
        (ledger._CREDIT_SQL, True),
        (ledger._COVERED_DEBIT_SQL, True),
        (ledger._LOCK_BALANCE, False),
        (holds_sql.CREATE, True),
        (holds_sql.CAPTURE, True),
        (idempotency_sql._CLAIM, True),
        (idempotency_sql._PRIOR, True),
        (idempotency_sql._RECORD, False),
    ],
)
def test_only_marked_statements_skip_their_rows(statement: object, read: bool) -> None:
    assert _compiled_text(statement).read_rows is read  # type: ignore[arg-type]


def test_an_unmarked_statement_is_read_whatever_its_text_says() -> None:
    # A comment with a quote or a bracket once fooled a parser; there is no parser now.
    tricky = text("-- the student's row (\nUPDATE t SET a = 1 WHERE b = 2 -- RETURNING")
    assert _compiled_text(tricky).read_rows is True
    assert _compiled_text(no_rows(tricky)).read_rows is False


def test_rows_of_an_unread_statement_are_an_error_not_an_empty_result() -> None:
    unread = Result(None)
    for read in (unread.first, unread.one_or_none, unread.all, unread.scalar):
        with pytest.raises(UnreadResult):
            read()
    assert Result([]).first() is None
