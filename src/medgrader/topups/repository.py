"""Queries for automatic top-up settings and attempts (the tables: models.topups).

Nothing here commits. Writes that settle an attempt run under its row lock (`lock_attempt`),
taken by topups.charging, so the three paths that may settle one (the job's own answer from
Stripe, the payment_intent webhooks, reconciliation) queue up on it and the later ones find
it settled.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db, no_rows
from medgrader.ledger.threshold import COUNTED_THIS_MONTH, MONTH_START

_SETTINGS_COLUMNS = """s.student_id, s.enabled, s.threshold_credits, s.package_id,
    s.monthly_limit_pence, s.payment_method_id, s.card_fingerprint, s.card_brand, s.card_last4,
    s.card_exp_month, s.card_exp_year, s.consecutive_failures, s.suspended_at,
    s.suspended_reason, s.updated_at"""

_SETTINGS = text(f"SELECT {_SETTINGS_COLUMNS} FROM auto_top_up_settings s WHERE s.student_id = :id")  # noqa: S608
_SETTINGS_LOCKED = text(
    f"SELECT {_SETTINGS_COLUMNS} FROM auto_top_up_settings s WHERE s.student_id = :id FOR UPDATE"  # noqa: S608
)
# Turning automatic top-up on (again) clears a suspension and the failures that led to it.
_UPSERT = no_rows(
    text(
        """
    INSERT INTO auto_top_up_settings AS s (
        student_id, enabled, threshold_credits, package_id, monthly_limit_pence,
        payment_method_id, card_fingerprint, card_brand, card_last4, card_exp_month,
        card_exp_year)
    VALUES (:student_id, :enabled, :threshold, :package_id, :monthly_limit, :pm, :fingerprint,
            :brand, :last4, :exp_month, :exp_year)
    ON CONFLICT (student_id) DO UPDATE SET
        enabled = EXCLUDED.enabled,
        threshold_credits = EXCLUDED.threshold_credits,
        package_id = EXCLUDED.package_id,
        monthly_limit_pence = EXCLUDED.monthly_limit_pence,
        payment_method_id = COALESCE(EXCLUDED.payment_method_id, s.payment_method_id),
        card_fingerprint = CASE WHEN EXCLUDED.payment_method_id IS NULL THEN s.card_fingerprint
                                ELSE EXCLUDED.card_fingerprint END,
        card_brand = COALESCE(EXCLUDED.card_brand, s.card_brand),
        card_last4 = COALESCE(EXCLUDED.card_last4, s.card_last4),
        card_exp_month = COALESCE(EXCLUDED.card_exp_month, s.card_exp_month),
        card_exp_year = COALESCE(EXCLUDED.card_exp_year, s.card_exp_year),
        consecutive_failures = CASE WHEN EXCLUDED.enabled THEN 0 ELSE s.consecutive_failures END,
        suspended_at = CASE WHEN EXCLUDED.enabled THEN NULL ELSE s.suspended_at END,
        suspended_reason = CASE WHEN EXCLUDED.enabled THEN NULL ELSE s.suspended_reason END,
        updated_at = now()
    """
    )
)
# The card went away (removed by the student, or detached at Stripe): top-up is off, the card
# forgotten, and attempts not yet sent to Stripe are canceled (one sent is settled as usual).
_FORGET_CARD = text(
    """
    WITH off AS (
        UPDATE auto_top_up_settings
           SET enabled = false, payment_method_id = NULL, card_fingerprint = NULL,
               card_brand = NULL, card_last4 = NULL, card_exp_month = NULL,
               card_exp_year = NULL, updated_at = now()
         WHERE payment_method_id = :pm
        RETURNING student_id
    ), canceled AS (
        UPDATE auto_top_up_attempts
           SET status = 'CANCELED', failure_code = 'card_removed', finished_at = now(),
               updated_at = now()
         WHERE payment_method_id = :pm AND status = 'QUEUED'
        RETURNING id
    )
    SELECT (SELECT count(*) FROM off) AS turned_off, (SELECT count(*) FROM canceled) AS canceled
    """
)
# A newly saved card replaces a suspended setting's card only when it is a different card:
# the suspension is lifted, the failures forgotten (issue 20: "a different card fingerprint").
_REPLACE_SUSPENDED_CARD = text(
    """
    UPDATE auto_top_up_settings
       SET payment_method_id = :pm, card_fingerprint = :fingerprint, card_brand = :brand,
           card_last4 = :last4, card_exp_month = :exp_month, card_exp_year = :exp_year,
           suspended_at = NULL, suspended_reason = NULL, consecutive_failures = 0,
           updated_at = now()
     WHERE student_id = :student_id AND suspended_at IS NOT NULL
       AND card_fingerprint IS DISTINCT FROM :fingerprint
    RETURNING student_id
    """
)
_STUDENT_OF_CUSTOMER = text("SELECT user_id FROM student_profiles WHERE stripe_customer_id = :c")
_CUSTOMER_OF = text("SELECT stripe_customer_id FROM student_profiles WHERE user_id = :id")

_ATTEMPT_COLUMNS = """a.id, a.student_id, a.package_id, a.package_name, a.credits,
    a.amount_pence, a.currency, a.payment_method_id, a.status, a.stripe_payment_intent_id,
    a.failure_code, a.decline_code, a.failure_message, a.recovery_session_id, a.finished_at,
    a.created_at, a.updated_at"""
_RECENT_ATTEMPTS = text(
    f"""
    SELECT {_ATTEMPT_COLUMNS}, p.id AS payment_id FROM auto_top_up_attempts a
      LEFT JOIN payments p ON p.top_up_attempt_id = a.id
     WHERE a.student_id = :id ORDER BY a.created_at DESC, a.id DESC LIMIT :limit
    """  # noqa: S608
)
_LOCK_ATTEMPT = text(
    f"""
    SELECT {_ATTEMPT_COLUMNS}, sp.stripe_customer_id FROM auto_top_up_attempts a
      JOIN student_profiles sp ON sp.user_id = a.student_id
     WHERE a.id = :id FOR UPDATE OF a
    """  # noqa: S608
)
_ATTEMPT = text(f"SELECT {_ATTEMPT_COLUMNS} FROM auto_top_up_attempts a WHERE a.id = :id")  # noqa: S608
_SPENT_THIS_MONTH = text(
    f"""
    SELECT COALESCE(sum(a.amount_pence), 0) FROM auto_top_up_attempts a
     WHERE a.student_id = :id AND {COUNTED_THIS_MONTH} AND a.created_at >= {MONTH_START}
    """  # noqa: S608
)
_MARK_PROCESSING = no_rows(
    text(
        "UPDATE auto_top_up_attempts SET status = 'PROCESSING', updated_at = now()"
        " WHERE id = :id AND status = 'QUEUED'"
    )
)
_CANCEL = no_rows(
    text(
        """
    UPDATE auto_top_up_attempts SET status = 'CANCELED', failure_code = :why,
           finished_at = now(), updated_at = now()
     WHERE id = :id AND status = 'QUEUED'
    """
    )
)
_NOTE_INTENT = no_rows(
    text(
        """
    UPDATE auto_top_up_attempts
       SET stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, :intent),
           updated_at = now()
     WHERE id = :id
    """
    )
)
# One statement: the attempt SUCCEEDED and its Payment, copied from the attempt (our record
# is the authority on what it bought). UNIQUE (top_up_attempt_id) and UNIQUE
# (stripe_payment_intent_id) refuse a second Payment should anything bypass the row lock.
_SUCCEED = no_rows(
    text(
        """
    WITH done AS (
        UPDATE auto_top_up_attempts
           SET status = 'SUCCEEDED', stripe_payment_intent_id = :intent,
               failure_code = NULL, decline_code = NULL, failure_message = NULL,
               finished_at = now(), updated_at = now()
         WHERE id = :attempt_id
        RETURNING id, student_id, amount_pence, currency, credits, package_name
    ), reset AS (
        UPDATE auto_top_up_settings SET consecutive_failures = 0, updated_at = now()
         WHERE student_id = (SELECT student_id FROM done)
    )
    INSERT INTO payments (id, student_id, top_up_attempt_id, stripe_payment_intent_id,
                          stripe_charge_id, type, status, amount_pence, currency, credits,
                          package_name, paid_at)
    SELECT :payment_id, student_id, id, :intent, :charge, 'CREDITS', 'SUCCEEDED',
           amount_pence, currency, credits, package_name, now()
      FROM done
    """
    )
)
# The attempt FAILED with Stripe's codes; a third failure in a row suspends top-up.
_FAIL = text(
    """
    WITH done AS (
        UPDATE auto_top_up_attempts
           SET status = 'FAILED', failure_code = :code, decline_code = :decline,
               failure_message = :message,
               stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, :intent),
               finished_at = now(), updated_at = now()
         WHERE id = :attempt_id
        RETURNING student_id
    )
    UPDATE auto_top_up_settings s
       SET consecutive_failures = s.consecutive_failures + 1,
           suspended_at = CASE WHEN s.consecutive_failures + 1 >= :suspend_after
                               THEN COALESCE(s.suspended_at, now()) ELSE s.suspended_at END,
           suspended_reason = CASE WHEN s.consecutive_failures + 1 >= :suspend_after
                                   THEN COALESCE(s.suspended_reason, :reason)
                                   ELSE s.suspended_reason END,
           updated_at = now()
      FROM done WHERE s.student_id = done.student_id
    RETURNING s.consecutive_failures, s.suspended_at IS NOT NULL AS suspended
    """
)
# Reconciliation's work list: attempts still in flight, untouched for a while, oldest first.
_STALE = text(
    """
    SELECT id FROM auto_top_up_attempts
     WHERE status IN ('QUEUED', 'PROCESSING') AND updated_at < :before
     ORDER BY updated_at LIMIT :limit
    """
)
_SET_RECOVERY = text(
    """
    UPDATE auto_top_up_attempts SET recovery_session_id = :session, updated_at = now()
     WHERE id = :id AND recovery_session_id IS NULL
    RETURNING id
    """
)


async def settings_of(db: Db, student_id: uuid.UUID, *, lock: bool = False) -> Row[Any] | None:
    statement = _SETTINGS_LOCKED if lock else _SETTINGS
    return (await db.execute(statement, {"id": student_id})).one_or_none()


async def upsert_settings(db: Db, **values: Any) -> None:
    await db.execute(_UPSERT, values)


async def forget_card(db: Db, payment_method_id: str) -> Row[Any]:
    return (await db.execute(_FORGET_CARD, {"pm": payment_method_id})).one()


async def replace_suspended_card(db: Db, student_id: uuid.UUID, card: dict[str, Any]) -> bool:
    row = (await db.execute(_REPLACE_SUSPENDED_CARD, {"student_id": student_id, **card})).first()
    return row is not None


async def student_of_customer(db: Db, customer_id: str) -> uuid.UUID | None:
    return await db.scalar(_STUDENT_OF_CUSTOMER, {"c": customer_id})  # type: ignore[no-any-return]


async def customer_of(db: Db, student_id: uuid.UUID) -> str | None:
    return await db.scalar(_CUSTOMER_OF, {"id": student_id})  # type: ignore[no-any-return]


async def recent_attempts(db: Db, student_id: uuid.UUID, *, limit: int = 10) -> list[Row[Any]]:
    return list(await db.execute(_RECENT_ATTEMPTS, {"id": student_id, "limit": limit}))


async def spent_this_month(db: Db, student_id: uuid.UUID) -> int:
    return int(await db.scalar(_SPENT_THIS_MONTH, {"id": student_id}) or 0)


async def lock_attempt(db: Db, attempt_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_LOCK_ATTEMPT, {"id": attempt_id})).one_or_none()


async def attempt(db: Db, attempt_id: uuid.UUID) -> Row[Any] | None:
    return (await db.execute(_ATTEMPT, {"id": attempt_id})).one_or_none()


async def mark_processing(db: Db, attempt_id: uuid.UUID) -> None:
    await db.execute(_MARK_PROCESSING, {"id": attempt_id})


async def cancel(db: Db, attempt_id: uuid.UUID, why: str) -> None:
    await db.execute(_CANCEL, {"id": attempt_id, "why": why})


async def note_intent(db: Db, attempt_id: uuid.UUID, intent_id: str) -> None:
    await db.execute(_NOTE_INTENT, {"id": attempt_id, "intent": intent_id})


async def succeed(
    db: Db, attempt_id: uuid.UUID, *, intent_id: str, charge_id: str | None
) -> uuid.UUID:
    """Precondition: the caller holds the attempt's lock and saw it not SUCCEEDED."""
    payment_id = uuid.uuid4()
    await db.execute(
        _SUCCEED,
        {"attempt_id": attempt_id, "payment_id": payment_id, "intent": intent_id,
         "charge": charge_id},
    )  # fmt: skip
    return payment_id


async def fail(db: Db, attempt_id: uuid.UUID, *, suspend_after: int, **why: Any) -> Row[Any] | None:
    """Precondition: the caller holds the attempt's lock and saw it in flight."""
    params = {"attempt_id": attempt_id, "suspend_after": suspend_after, **why}
    return (await db.execute(_FAIL, params)).one_or_none()


async def stale_in_flight(db: Db, before: Any, *, limit: int) -> list[uuid.UUID]:
    return [row.id for row in await db.execute(_STALE, {"before": before, "limit": limit})]


async def set_recovery_session(db: Db, attempt_id: uuid.UUID, session_id: str) -> bool:
    row = (await db.execute(_SET_RECOVERY, {"id": attempt_id, "session": session_id})).first()
    return row is not None


_OUTCOMES = text(
    """
    SELECT status, count(*) AS attempts, COALESCE(sum(amount_pence), 0) AS pence
      FROM auto_top_up_attempts
     WHERE created_at >= :start AND created_at < :end
     GROUP BY status
    """
)


async def outcome_counts(db: Db, start: Any, end: Any) -> dict[str, tuple[int, int]]:
    """Attempts created in [start, end) by status: (how many, their pence)."""
    rows = await db.execute(_OUTCOMES, {"start": start, "end": end})
    return {row.status: (int(row.attempts), int(row.pence)) for row in rows}
