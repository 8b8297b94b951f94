# ruff: noqa: S608 - the f-strings below splice in only this module's constant fragments
"""The holds' SQL: one text() statement per operation.

Every statement that checks the available balance runs after ledger.lock_balance() in the same
transaction, so its snapshot already holds every hold and entry committed before the lock, and
nothing can change them before the commit. Every state change is a conditional UPDATE on
`status = 'ACTIVE' AND expires_at > now()`: of two racing changes to one hold (two captures,
capture and expiry) the row lock lets one through and PostgreSQL re-checks the condition for
the other, which then matches no row.
"""

from __future__ import annotations

from sqlalchemy import text

from medgrader.ledger.rules import available
from medgrader.ledger.service import sync_hold_sql
from medgrader.models.holds import CAPTURE_SOURCE_PREFIX, active_count_sql

ACTIVE_HOLDS = active_count_sql(":student_id")

# What every answer about a hold is built from. The status an API reader sees is EXPIRED as
# soon as expires_at passes, whether or not the sweep has written it yet.
_EFFECTIVE_STATUS = (
    "CASE WHEN h.status = 'ACTIVE' AND h.expires_at <= now() THEN 'EXPIRED' ELSE h.status END"
)
_COLUMNS = f"""
    h.id, h.seq, {_EFFECTIVE_STATUS} AS status, h.amount, h.captured_amount, h.reason,
    h.created_at, h.expires_at, (h.status = 'ACTIVE' AND h.expires_at > now()) AS live
"""
_AVAILABLE = f"""(
    SELECT {available("p.credit_balance", ":student_id")}
      FROM student_profiles p WHERE p.user_id = :student_id
)"""
# The capture's entry, through the partial UNIQUE index (its predicate repeated so that the
# planner may use it).
_CAPTURE_ENTRY = f"""
    LEFT JOIN credit_transactions t
      ON t.source_type = 'USAGE' AND t.source_id LIKE '{CAPTURE_SOURCE_PREFIX}%'
     AND t.source_id = '{CAPTURE_SOURCE_PREFIX}' || h.id::text
"""
_LIVE = (
    "h.id = :hold_id AND h.student_id = :student_id AND h.status = 'ACTIVE'"
    " AND h.expires_at > now()"
)


def _reserve(hold: str, when: str) -> str:
    """A created or extended hold reserves its credits in lots in its own statement, under
    the balance row lock the caller took: the ledger's lots_sync_hold on the row the
    statement returns (it sees the hold as written), only `when` (an SQL condition) holds.
    The column reads as nothing."""
    return f"CASE WHEN {when} THEN {sync_hold_sql(hold)} END AS lots_reserved"


# The insert happens only when the available balance covers the amount and the student has
# fewer than :max_active active holds; one row comes back either way for an existing student
# (hold columns NULL when refused, active_holds saying which limit refused), none for a
# missing one.
CREATE = text(
    f"""
    WITH profile AS (
        SELECT p.user_id, {available("p.credit_balance", ":student_id")} AS available,
               {ACTIVE_HOLDS} AS active_holds
          FROM student_profiles p WHERE p.user_id = :student_id
    ), created AS (
        INSERT INTO credit_holds AS h (id, student_id, amount, reason, ttl_seconds, expires_at)
        SELECT :hold_id, user_id, :amount, :reason, :ttl_seconds,
               now() + :ttl_seconds * INTERVAL '1 second'
          FROM profile WHERE available >= :amount AND active_holds < :max_active
        RETURNING {_COLUMNS}
    )
    SELECT created.*, profile.available - COALESCE(created.amount, 0) AS available_balance,
           profile.active_holds, {_reserve("created.id", "created.id IS NOT NULL")}
      FROM profile LEFT JOIN created ON true
    """
)

# An extension's new expiry: ttl_seconds NULL keeps the hold's own; never earlier than before.
_EXTENDED_EXPIRY = """GREATEST(
    h.expires_at,
    now() + COALESCE(CAST(:ttl_seconds AS INTEGER), h.ttl_seconds) * INTERVAL '1 second'
)"""
# ... which must stay within the hold's lifetime, counted from its creation.
_WITHIN_LIFETIME = (
    f"{_EXTENDED_EXPIRY} <= h.created_at + :max_lifetime_seconds * INTERVAL '1 second'"
)

# With an extra amount the available balance must cover it (the hold itself already counts as
# held). Only extra credits are reserved in lots: a renewal takes no balance row lock.
EXTEND = text(
    f"""
    WITH profile AS (SELECT {_AVAILABLE} AS available), extended AS (
        UPDATE credit_holds AS h
           SET amount = h.amount + :additional,
               ttl_seconds = COALESCE(CAST(:ttl_seconds AS INTEGER), h.ttl_seconds),
               expires_at = {_EXTENDED_EXPIRY},
               updated_at = now()
          FROM profile
         WHERE {_LIVE}
           AND (:additional = 0 OR profile.available >= :additional)
           AND h.amount + :additional <= :max_amount
           AND {_WITHIN_LIFETIME}
        RETURNING {_COLUMNS}, profile.available - :additional AS available_balance
    )
    SELECT extended.*, {_reserve("extended.id", ":additional > 0")} FROM extended
    """
)

# :amount is the credits to charge (already resolved: NULL means "all"). 0 releases. The
# balance minus the OTHER holds must cover the charge: always true unless a clawback took the
# balance down meanwhile (a capture never takes a balance below zero).
CAPTURE = text(
    f"""
    WITH profile AS (SELECT {_AVAILABLE} AS available),
    charge AS (
        SELECT COALESCE(CAST(:amount AS BIGINT), h.amount) AS credits
          FROM credit_holds h WHERE h.id = :hold_id
    )
    UPDATE credit_holds AS h
       SET status = CASE WHEN charge.credits = 0 THEN 'RELEASED' ELSE 'CAPTURED' END,
           captured_amount = NULLIF(charge.credits, 0),
           closed_at = now(),
           updated_at = now()
      FROM profile, charge
     WHERE {_LIVE}
       AND charge.credits <= h.amount
       AND (charge.credits = 0 OR profile.available + h.amount >= charge.credits)
    RETURNING {_COLUMNS}, charge.credits AS charged,
              profile.available + h.amount - charge.credits AS available_balance
    """
)

RELEASE = text(
    f"""
    WITH profile AS (SELECT {_AVAILABLE} AS available)
    UPDATE credit_holds AS h
       SET status = 'RELEASED', closed_at = now(), updated_at = now()
      FROM profile
     WHERE {_LIVE}
    RETURNING {_COLUMNS}, profile.available + h.amount AS available_balance
    """
)

# One hold as its owner sees it (also how a refused change learns why it was refused: it runs
# after the refusal, with a fresh snapshot, so it sees the change that won a race).
ONE = text(
    f"""
    SELECT {_COLUMNS}, t.id AS transaction_id, {_AVAILABLE} AS available_balance
      FROM credit_holds h {_CAPTURE_ENTRY}
     WHERE h.id = :hold_id AND h.student_id = :student_id
    """
)

# Why an extension matched nothing: the hold as it is now (a fresh snapshot, like ONE) and
# whether the extension asked for would have stayed within its lifetime.
EXTEND_REFUSED = text(
    f"""
    SELECT {_COLUMNS}, {_WITHIN_LIFETIME} AS within_lifetime
      FROM credit_holds h
     WHERE h.id = :hold_id AND h.student_id = :student_id
    """
)

PAGE = text(
    f"""
    SELECT {_COLUMNS}, t.id AS transaction_id, {_AVAILABLE} AS available_balance
      FROM credit_holds h {_CAPTURE_ENTRY}
     WHERE h.student_id = :student_id
       AND (CAST(:before_seq AS BIGINT) IS NULL OR h.seq < CAST(:before_seq AS BIGINT))
       AND (CAST(:status AS TEXT) IS NULL OR {_EFFECTIVE_STATUS} = CAST(:status AS TEXT))
     ORDER BY h.seq DESC
     LIMIT :limit
    """
)

# The sweep writes down what the clock already decided, one student at a time under their
# balance row lock (lots_settle, migration 0013): due holds EXPIRED (their credits back to
# their lots), due lots expired. SKIP LOCKED: a student being posted to right now is settled
# by that posting; two sweeps never wait for each other.
SWEEP = text("SELECT holds_expired, lots_expired, students FROM lots_sweep(:batch)")
