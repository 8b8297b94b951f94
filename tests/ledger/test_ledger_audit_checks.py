"""Every audit check fires on the corruption it exists for.

Each case corrupts the data inside a transaction that is always rolled back, runs the checks
in that same transaction, and asserts which checks fired: nothing is ever committed, so
other tests and `medgrader audit` never see the damage.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from medgrader.audit.checks import CHECKS
from medgrader.db.engine import to_libpq_url
from medgrader.db.resolve import Database
from medgrader.documents.audit import DOCUMENT_CHECKS
from medgrader.holds.audit import HOLD_CHECKS
from medgrader.lots.audit import LOT_CHECKS
from medgrader.promotions.audit import PROMOTION_CHECKS
from medgrader.subscriptions.audit import SUBSCRIPTION_CHECKS
from medgrader.topups.audit import TOP_UP_CHECKS
from tests.credits.factory import make_student
from tests.support.services import ServiceRunner

Corrupt = Callable[[psycopg.Connection, str], None]


@pytest.fixture
def scratch(database: Database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(to_libpq_url(database.url)) as connection:
        yield connection
        connection.rollback()


def _findings(conn: psycopg.Connection) -> set[str]:
    return {name for name, query in CHECKS.items() if conn.execute(query).fetchall()}


def _post(
    conn: psycopg.Connection, student: str, delta: int, source: str, source_id: str | None
) -> None:
    """A consistent entry (balance moved, balanceAfter right, its lot or its movements), as
    the ledger writes it: through ledger_post (migration 0013). A PURCHASE makes a paid lot
    worth 10 pence a credit."""
    conn.execute(
        """
        SELECT ledger_post(
            %(student)s, CASE WHEN %(delta)s > 0 THEN 'CREDIT' ELSE 'DEBIT' END, abs(%(delta)s),
            %(delta)s, true, %(source)s, %(source_id)s, 'audit test', '{}'::jsonb, NULL, NULL,
            CASE WHEN %(source)s = 'PURCHASE' THEN 'PAID' ELSE 'GRANTED' END, %(source)s,
            NULL, 50, CASE WHEN %(source)s = 'PURCHASE' THEN abs(%(delta)s) * 10 END,
            CASE WHEN %(source)s = 'PURCHASE' THEN 'GBP' END, NULL)
        """,
        {"delta": delta, "student": student, "source": source, "source_id": source_id},
    )


def _session(conn: psycopg.Connection, student: str, *, credits: int = 100) -> str:
    stripe_id = f"cs_test_audit_{uuid.uuid4().hex}"
    conn.execute(
        """
        WITH pkg AS (
            INSERT INTO credit_packages (name, credits, price_pence)
            VALUES (%(name)s, %(credits)s, 1000) RETURNING id
        )
        INSERT INTO checkout_sessions (stripe_session_id, student_id, package_id, package_name,
                                       credits, amount_pence, currency, status, expires_at,
                                       completed_at)
        SELECT %(sid)s, %(student)s, id, 'Audit pack', %(credits)s, 1000, 'GBP', 'COMPLETED',
               now() + interval '1 hour', now()
          FROM pkg
        """,
        {"name": f"audit {stripe_id}", "credits": credits, "sid": stripe_id, "student": student},
    )
    return stripe_id


def _payment(conn: psycopg.Connection, student: str, stripe_id: str, *, amount: int = 1000) -> None:
    conn.execute(
        """
        INSERT INTO payments (student_id, checkout_session_id, stripe_checkout_session_id,
                              amount_pence, currency, credits, package_name, paid_at)
        SELECT %(student)s, id, stripe_session_id, %(amount)s, 'GBP', credits, package_name, now()
          FROM checkout_sessions WHERE stripe_session_id = %(sid)s
        """,
        {"student": student, "sid": stripe_id, "amount": amount},
    )


def _complete_purchase(conn: psycopg.Connection, student: str) -> str:
    stripe_id = _session(conn, student)
    _post(conn, student, 100, "PURCHASE", stripe_id)
    _payment(conn, student, stripe_id)
    return stripe_id


def balance_moved_behind_the_ledger(conn: psycopg.Connection, student: str) -> None:
    conn.execute(
        "UPDATE student_profiles SET credit_balance = credit_balance + 7 WHERE user_id = %s",
        (student,),
    )


def balance_after_rewritten(conn: psycopg.Connection, student: str) -> None:
    _post(conn, student, 5, "ADMIN_ADJUSTMENT", None)
    conn.execute(
        "UPDATE credit_transactions SET balance_after = balance_after + 1 "
        "WHERE seq = (SELECT min(seq) FROM credit_transactions WHERE student_id = %s)",
        (student,),
    )


def completed_session_without_purchase(conn: psycopg.Connection, student: str) -> None:
    stripe_id = _session(conn, student)
    _payment(conn, student, stripe_id)


def purchase_without_session(conn: psycopg.Connection, student: str) -> None:
    _post(conn, student, 100, "PURCHASE", "cs_test_no_such_session")


def purchase_of_the_wrong_size(conn: psycopg.Connection, student: str) -> None:
    stripe_id = _session(conn, student, credits=100)
    _post(conn, student, 500, "PURCHASE", stripe_id)
    _payment(conn, student, stripe_id)


def completed_session_without_payment(conn: psycopg.Connection, student: str) -> None:
    stripe_id = _session(conn, student)
    _post(conn, student, 100, "PURCHASE", stripe_id)


def payment_of_the_wrong_amount(conn: psycopg.Connection, student: str) -> None:
    stripe_id = _session(conn, student)
    _post(conn, student, 100, "PURCHASE", stripe_id)
    _payment(conn, student, stripe_id, amount=999)


def _paid(conn: psycopg.Connection, student: str) -> str:
    """A correct purchase; returns its payment id."""
    stripe_id = _complete_purchase(conn, student)
    row = conn.execute(
        "SELECT id::text FROM payments WHERE stripe_checkout_session_id = %s", (stripe_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


def clawback_recorded_without_money_returned(conn: psycopg.Connection, student: str) -> None:
    payment = _paid(conn, student)
    _post(conn, student, -10, "REFUND", payment)
    conn.execute("UPDATE payments SET credits_clawed_back = 10 WHERE id = %s", (payment,))


def ledger_took_more_than_the_rule(conn: psycopg.Connection, student: str) -> None:
    payment = _paid(conn, student)  # 100 credits for 1000p: 100p refunded takes back 10
    conn.execute(
        """INSERT INTO refunds (stripe_refund_id, payment_id, student_id, amount_pence, currency,
                                status, credits_clawed_back, stripe_created_at)
           VALUES (%s, %s, %s, 100, 'GBP', 'succeeded', 10, now())""",
        (f"re_audit_{uuid.uuid4().hex}", payment, student),
    )
    conn.execute(
        "UPDATE payments SET amount_refunded_pence = 100, credits_clawed_back = 10 WHERE id = %s",
        (payment,),
    )
    _post(conn, student, -11, "REFUND", payment)


def refunded_amount_without_refunds(conn: psycopg.Connection, student: str) -> None:
    payment = _paid(conn, student)
    conn.execute(
        "UPDATE payments SET amount_refunded_pence = 500, credits_clawed_back = 50 WHERE id = %s",
        (payment,),
    )
    _post(conn, student, -50, "REFUND", payment)


CASES: list[tuple[Corrupt, set[str]]] = [
    (
        balance_moved_behind_the_ledger,
        {"balance_equals_ledger_sum", "balance_equals_lot_remainders"},
    ),
    (balance_after_rewritten, {"balance_after_chain"}),
    (completed_session_without_purchase, {"completed_session_has_one_purchase"}),
    (purchase_without_session, {"purchase_matches_session"}),
    (purchase_of_the_wrong_size, {"purchase_matches_session"}),
    (completed_session_without_payment, {"completed_session_has_one_payment"}),
    (payment_of_the_wrong_amount, {"payment_matches_session"}),
    (clawback_recorded_without_money_returned, {"payment_clawback_follows_the_rule"}),
    (ledger_took_more_than_the_rule, {"payment_clawback_follows_the_rule"}),
    (refunded_amount_without_refunds, {"payment_returns_match_records"}),
]


def test_every_check_has_a_case() -> None:
    # The holds' checks have their cases in tests/holds/test_holds_audit.py, the promotions'
    # in tests/promotions/test_promotions_audit.py, the documents' in
    # tests/documents/test_documents_audit.py, the lots' in tests/lots/test_lots_audit.py,
    # automatic top-up's in tests/topups, the subscriptions' in
    # tests/subscriptions/test_subscriptions_reconciliation.py (the rollover's in
    # tests/subscriptions/test_subscriptions_rollover_audit.py).
    ours = set(CHECKS) - set(HOLD_CHECKS) - set(PROMOTION_CHECKS) - set(DOCUMENT_CHECKS)
    ours -= set(TOP_UP_CHECKS) | set(SUBSCRIPTION_CHECKS)
    assert ours - set(LOT_CHECKS) == set().union(*(fired for _, fired in CASES)) - set(LOT_CHECKS)


@pytest.mark.parametrize(("corrupt", "fired"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_the_check_fires(
    services: ServiceRunner, scratch: psycopg.Connection, corrupt: Corrupt, fired: set[str]
) -> None:
    student = make_student(services).id
    assert _findings(scratch) == set(), "the database must be clean before the case"
    _complete_purchase(scratch, student)  # a correct purchase alongside raises nothing
    assert _findings(scratch) == set()
    corrupt(scratch, student)
    assert _findings(scratch) == fired
    scratch.rollback()
    assert _findings(scratch) == set()
