# ruff: noqa: S608 - the f-strings splice in only constant rule expressions, never a value
"""The automatic top-up trigger: THE one place a debit queues a top-up attempt.

`after_debit(db, student_id)` runs after anything that lowers a student's available balance
(a spend, a capture, a negative adjustment, a clawback: ledger.service.debit and .clawback
call it; a new or extended hold: holds.service calls it; lots expired outside a posting: the
sweep and a settling read call `after_expiry`),
in the same transaction and under the same balance row lock. One statement, queued in the
pipeline (no_rows: no extra round trip on the spend path), that:

1. finds the student's settings ON and not suspended, the package active, and the AVAILABLE
   balance (ledger.rules) at or below the threshold;
2. applies the guards that decide whether an attempt may be queued at all: at most 2 attempts
   in 10 minutes, none within an hour of a failed one, and the London calendar month's
   succeeded and in-flight attempts plus this one within the monthly limit;
3. inserts the attempt, `ON CONFLICT DO NOTHING` on the partial UNIQUE index of attempts in
   flight: however many debits cross the threshold at once, one attempt exists (invariant 13);
4. and, only when a row was inserted, defers the job that charges it (procrastinate's own
   defer function), so the job commits with the attempt or not at all.

A debit that queues nothing (no settings: the common case) costs one index probe, in the
posting's own statement (`top_up_on_sql`, which ledger.service's posting returns).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from medgrader.db.session import Db, no_rows
from medgrader.jobs.queues import TOP_UP_QUEUE, TOP_UP_TASK
from medgrader.ledger.rules import available
from medgrader.models.base import one_of
from medgrader.models.topups import IN_FLIGHT, AttemptStatus

# Guards (issue 20): how many attempts a window allows.
MAX_ATTEMPTS_PER_10_MINUTES = 2
FAILURE_PAUSE = "1 hour"
LONDON = "Europe/London"

# The first instant of the current calendar month in London, as a timestamptz.
MONTH_START = f"(date_trunc('month', now() AT TIME ZONE '{LONDON}') AT TIME ZONE '{LONDON}')"
COUNTED_THIS_MONTH = one_of("a.status", (*IN_FLIGHT, AttemptStatus.SUCCEEDED))

# The students whose lots expired in this transaction (lots_settle's EXPIRY entries: the sweep,
# or a read that settled first). created_at is clock_timestamp(), never before the
# transaction's now(); the BRIN index on created_at keeps this to the newest block range.
EXPIRED_IN_THIS_TRANSACTION = """
    SELECT DISTINCT e.student_id FROM credit_transactions e
     WHERE e.source_type = 'EXPIRY' AND e.created_at >= now()
"""


# Automatic top-up is on: THE definition (the trigger's statement and every posting ask it).
_ON = "s.enabled AND s.suspended_at IS NULL"


def top_up_on_sql(student: str) -> str:
    """An SQL boolean: the student (an SQL expression) has automatic top-up on. A posting
    returns it (ledger.service), so that a debit of a student without it (nearly every one)
    sends no ENQUEUE statement. The posting runs after lock_balance's statement, so its
    snapshot (taken when it starts) holds every settings change committed before the lock
    was granted, and none can commit until the transaction ends (save_settings takes the
    lock too): as true as ENQUEUE's own look, as the posting's cover check is."""
    return f"EXISTS (SELECT 1 FROM auto_top_up_settings s WHERE s.student_id = {student} AND {_ON})"


def _enqueue(students: str, *, also: str = "TRUE") -> str:
    """The trigger's one statement for the students of `students` (an SQL expression giving
    student ids), `also` an extra condition on them (checked after their settings are found:
    most students have none)."""
    return f"""
        WITH due AS (
            SELECT s.student_id, p.id AS package_id, p.name, p.credits, p.price_pence,
                   p.currency, s.payment_method_id
              FROM auto_top_up_settings s
              JOIN credit_packages p ON p.id = s.package_id AND p.is_active
              JOIN student_profiles sp ON sp.user_id = s.student_id
             WHERE s.student_id IN ({students})
               AND {_ON} AND ({also})
               AND {available("sp.credit_balance", "s.student_id")} <= s.threshold_credits
               AND (SELECT count(*) FROM auto_top_up_attempts a
                     WHERE a.student_id = s.student_id AND a.status <> 'CANCELED'
                       AND a.created_at > now() - interval '10 minutes')
                   < {MAX_ATTEMPTS_PER_10_MINUTES}
               AND NOT EXISTS (SELECT 1 FROM auto_top_up_attempts a
                                WHERE a.student_id = s.student_id AND a.status = 'FAILED'
                                  AND a.finished_at > now() - interval '{FAILURE_PAUSE}')
               AND (SELECT COALESCE(sum(a.amount_pence), 0) FROM auto_top_up_attempts a
                     WHERE a.student_id = s.student_id AND {COUNTED_THIS_MONTH}
                       AND a.created_at >= {MONTH_START})
                   + p.price_pence <= s.monthly_limit_pence
        ), queued AS (
            INSERT INTO auto_top_up_attempts (student_id, package_id, package_name, credits,
                                              amount_pence, currency, payment_method_id)
            SELECT student_id, package_id, name, credits, price_pence, currency,
                   payment_method_id
              FROM due
            ON CONFLICT (student_id) WHERE {one_of("status", IN_FLIGHT)} DO NOTHING
            RETURNING id
        )
        SELECT procrastinate_defer_jobs_v1(ARRAY[
                   ROW('{TOP_UP_QUEUE}', '{TOP_UP_TASK}', 0, NULL, NULL,
                       jsonb_build_object('attempt_id', queued.id::text), NULL)
                   ::procrastinate_job_to_defer_v1])
          FROM queued
        """


# One student's lots expired in this transaction: an EXPIRY among their newest entries (their
# index; a settle writes its entries last).
STUDENT_EXPIRED_IN_THIS_TRANSACTION = """
    EXISTS (SELECT 1 FROM (
        SELECT e.source_type, e.created_at FROM credit_transactions e
         WHERE e.student_id = s.student_id ORDER BY e.seq DESC LIMIT 50) x
     WHERE x.source_type = 'EXPIRY' AND x.created_at >= now())
"""

ENQUEUE = no_rows(text(_enqueue(":student_id")))
AFTER_EXPIRY = no_rows(text(_enqueue(EXPIRED_IN_THIS_TRANSACTION)))
AFTER_STUDENT_EXPIRY = no_rows(
    text(_enqueue(":student_id", also=STUDENT_EXPIRED_IN_THIS_TRANSACTION))
)


async def after_debit(db: Db, student_id: uuid.UUID, *, top_up_on: bool = True) -> None:
    """Queue an automatic top-up attempt (and its job) if this debit left the student's
    available balance at or below their threshold and the guards allow one. The caller holds
    the student's balance row lock (every debit does) and owns the transaction.

    `top_up_on` False: the caller read top_up_on_sql under that lock and found the settings
    off, so nothing can be queued and no statement is sent."""
    if top_up_on:
        await db.execute(ENQUEUE, {"student_id": student_id})


async def after_expiry(db: Db) -> None:
    """An expiry is a debit too (issue 20): queue the attempts the lots expired in this
    transaction call for, as after_debit does for each of their students. Run by the sweep in
    its transaction, while it holds the settled students' balance row locks. (An EXPIRY entry
    another transaction committed meanwhile may bring its student in too, without the lock:
    the attempt is still at most one in flight, by the partial UNIQUE index, and the guards
    hold as for any debit.) Queued (no round trip)."""
    await db.execute(AFTER_EXPIRY)


async def after_student_expiry(db: Db, student_id: uuid.UUID) -> None:
    """after_expiry for one student (a read that settled them first; it holds their lock if
    it settled anything): looks at their newest entries only, and only when they have
    automatic top-up on, so a plain read costs one index probe."""
    await db.execute(AFTER_STUDENT_EXPIRY, {"student_id": student_id})
