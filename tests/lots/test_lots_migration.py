"""Migration 0013 turns today's ledgers into lots by replaying them: on a database (at 0012)
holding purchases, a partial refund, a lost and a won dispute, a clawback debt and an active
hold, no balance changes, the lot checks of the audit are clean, purchases are paid lots worth
their payment, and nothing a student holds expires sooner than WELCOME_BONUS_EXPIRES_DAYS
after the migration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alembic import command

from medgrader.audit.checks import CHECKS
from medgrader.db.migrate import alembic_config
from medgrader.db.resolve import Database
from medgrader.lots.audit import LOT_CHECKS
from tests.ledger.test_ledger_audit_checks import _payment, _session
from tests.support.scratch import scratch_database


@pytest.fixture
def scratch(database: Database) -> Iterator[str]:
    with scratch_database(database, "lots") as url:
        yield url


def _student(db: psycopg.Connection) -> str:
    student = str(uuid.uuid4())
    db.execute(
        "INSERT INTO users (id, email, password_hash, role, email_verified_at)"
        " VALUES (%s, %s, 'x', 'student', now())",
        (student, f"m-{student}@example.com"),
    )
    db.execute(
        "INSERT INTO student_profiles (user_id, first_name, last_name) VALUES (%s, 'M', 'S')",
        (student,),
    )
    return student


def _post(
    db: psycopg.Connection, student: str, delta: int, source: str, source_id: str | None
) -> None:
    """An entry as the writer before 0013 made it: the balance moved, its balanceAfter."""
    db.execute(
        """
        WITH moved AS (
            UPDATE student_profiles SET credit_balance = credit_balance + %(delta)s
             WHERE user_id = %(student)s RETURNING user_id, credit_balance
        )
        INSERT INTO credit_transactions
            (student_id, entry_type, amount, balance_after, source_type, source_id, description)
        SELECT user_id, CASE WHEN %(delta)s > 0 THEN 'CREDIT' ELSE 'DEBIT' END, abs(%(delta)s),
               credit_balance, %(source)s, %(source_id)s, 'before lots'
          FROM moved
        """,
        {"delta": delta, "student": student, "source": source, "source_id": source_id},
    )


def _bought(db: psycopg.Connection, student: str, credits: int, pence: int) -> str:
    stripe_id = _session(db, student, credits=credits)
    db.execute("UPDATE checkout_sessions SET amount_pence = %s WHERE stripe_session_id = %s",
               (pence, stripe_id))  # fmt: skip
    _post(db, student, credits, "PURCHASE", stripe_id)
    _payment(db, student, stripe_id, amount=pence)
    row = db.execute(
        "SELECT id::text FROM payments WHERE stripe_checkout_session_id = %s", (stripe_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


def _balances(db: psycopg.Connection, students: list[str]) -> dict[str, int]:
    rows = db.execute(
        "SELECT user_id::text, credit_balance FROM student_profiles"
        " WHERE user_id = ANY(%s::uuid[])",
        (students,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def test_the_replay_makes_lots_of_todays_ledgers(scratch: str) -> None:
    config = alembic_config(scratch)
    command.upgrade(config, "0012")
    with psycopg.connect(scratch, autocommit=True) as db:
        a, b, c = _student(db), _student(db), _student(db)
        for student in (a, b, c):
            _post(db, student, 100, "WELCOME_BONUS", None)
        paid_a = _bought(db, a, 100, 1000)
        _post(db, a, -30, "USAGE", None)  # the welcome bonus first
        _post(db, a, -20, "REFUND", paid_a)  # a partial refund
        db.execute(
            """INSERT INTO credit_holds (student_id, amount, reason, ttl_seconds, expires_at)
               VALUES (%s, 150, 'live call', 900, now() + interval '15 minutes')""",
            (a,),
        )  # an active hold of all that is left
        paid_b = _bought(db, b, 100, 1000)
        _post(db, b, -190, "USAGE", None)
        _post(db, b, -100, "DISPUTE", paid_b)  # lost: 90 owed
        paid_c = _bought(db, c, 500, 4500)
        _post(db, c, -500, "DISPUTE", paid_c)
        _post(db, c, 500, "DISPUTE", paid_c)  # won
        _post(db, c, 7, "ADMIN_ADJUSTMENT", None)

    # The promotions' revision (0015) comes before 0013: credits it gave are replayed too,
    # with the expiry their grant recorded, never sooner than the welcome bonus' 90 days.
    command.upgrade(config, "0014")
    with psycopg.connect(scratch, autocommit=True) as db:
        for student, credits, source, days in ((c, 5, "PROMOTION_CODE", 400),
                                               (c, 3, "PROMOTION_BONUS", 1)):  # fmt: skip
            _post(db, student, credits, source, f"promo-{source}")
            db.execute(
                "UPDATE credit_transactions SET metadata = jsonb_build_object('expires_at',"
                " (now() + make_interval(days => %s))::text) WHERE source_id = %s",
                (days, f"promo-{source}"),
            )
        before = _balances(db, [a, b, c])

    command.upgrade(config, "0013")
    with psycopg.connect(scratch, autocommit=True) as db:
        after = _balances(db, [a, b, c])
        assert after == before == {a: 150, b: -90, c: 615}
        promoted = db.execute(
            "SELECT l.amount, l.expires_at - now() FROM credit_lots l JOIN credit_transactions t"
            " ON t.id = l.entry_id WHERE l.student_id = %s AND l.kind = 'GRANTED'"
            " AND l.source = 'PROMOTION' ORDER BY l.amount",
            (c,),
        ).fetchall()
        assert [amount for amount, _ in promoted] == [3, 5]
        assert timedelta(days=89) < promoted[0][1] <= timedelta(days=90)  # not in 1 day
        assert timedelta(days=399) < promoted[1][1] <= timedelta(days=400)
        lot_checks = {n: q for n, q in CHECKS.items() if n in LOT_CHECKS}
        lot_checks["balance_equals_ledger_sum"] = CHECKS["balance_equals_ledger_sum"]
        findings = {name: db.execute(q).fetchall() for name, q in lot_checks.items()}
        assert {name: rows for name, rows in findings.items() if rows} == {}

        def lots(student: str) -> list[tuple[str, str, int, int, int | None]]:
            rows = db.execute(
                "SELECT kind, source, amount, remaining, value_minor FROM credit_lots"
                " WHERE student_id = %s ORDER BY seq",
                (student,),
            ).fetchall()
            return [tuple(r) for r in rows]

        # a: 30 of the welcome bonus used; the refund took 20 from its own lot; the hold
        # reserves the 150 left.
        assert lots(a) == [("GRANTED", "WELCOME_BONUS", 100, 70, None),
                           ("PAID", "PURCHASE", 100, 80, 1000)]  # fmt: skip
        reserved = db.execute(
            "SELECT SUM(credits) FROM lot_reservations r JOIN credit_holds h"
            " ON h.id = r.hold_id WHERE h.student_id = %s",
            (a,),
        ).fetchone()
        assert reserved == (150,)
        # b: the lost dispute found nothing left: 90 owed, paid by the next credits.
        debt = db.execute("SELECT remaining FROM credit_debts WHERE student_id = %s", (b,))
        assert debt.fetchall() == [(90,)]
        # c: the won dispute gave back a paid lot of 500 worth 4500.
        assert ("PAID", "PURCHASE", 500, 500, 4500) in lots(c)
        # Nothing expires because of the migration: 90 days from now at the soonest.
        soonest = db.execute("SELECT min(expires_at) FROM credit_lots").fetchone()
        assert soonest is not None
        assert soonest[0] >= datetime.now(UTC) + timedelta(days=89)
