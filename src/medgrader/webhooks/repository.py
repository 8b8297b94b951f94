"""The webhook inbox: one row per Stripe event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.lean import SqlSession, no_rows

# The raw body goes in as text and PostgreSQL checks it: no second JSON encoding in Python.
# Stored as json, not jsonb: the exact bytes Stripe signed, and jsonb would refuse a \u0000
# that a customer typed into the hosted page (every delivery of that event would then fail).
# Read payloads back as text (payload::text) and parse them in Python: PostgreSQL's json
# operators (->, ->>) de-escape what they walk through and fail on such a \u0000.
#
# Claiming: a new event is inserted; an event already stored but not processed (its handling
# failed, or it waits for something, e.g. a payment we do not know yet) is claimed again and
# handled afresh; a processed one is a duplicate (no row returned). A concurrent delivery of
# the same event blocks on this statement until the first commits (then finds it processed,
# or claims it again if the first left it unprocessed) or rolls back (then claims it).
CLAIM = text(
    """
    INSERT INTO webhook_events AS e (id, type, payload)
    VALUES (:id, :type, CAST(:payload AS json))
    ON CONFLICT (id) DO UPDATE SET attempts = e.attempts + 1
     WHERE e.processed_at IS NULL
    RETURNING 1
    """
)
PROCESSED = no_rows(
    text("UPDATE webhook_events SET processed_at = now(), outcome = :outcome WHERE id = :id")
)
# processed_at stays NULL: the event waits in the inbox for a later handler or delivery.
_NOTED = no_rows(text("UPDATE webhook_events SET outcome = :outcome WHERE id = :id"))
# After a rolled-back attempt: keep the event, unprocessed, with why it failed.
_FAILED = no_rows(
    text(
        """
    INSERT INTO webhook_events AS e (id, type, payload, outcome)
    VALUES (:id, :type, CAST(:payload AS json), :outcome)
    ON CONFLICT (id) DO UPDATE SET outcome = EXCLUDED.outcome, attempts = e.attempts + 1
     WHERE e.processed_at IS NULL
    """
    )
)
FAILED_PREFIX = "failed: "
STATUSES = ("processed", "unprocessed", "failed")
_STATUS_SQL = f"""CASE WHEN processed_at IS NOT NULL THEN 'processed'
                       WHEN outcome LIKE '{FAILED_PREFIX}%' THEN 'failed'
                       ELSE 'unprocessed' END"""
_IS_PROCESSED = text("SELECT processed_at IS NOT NULL FROM webhook_events WHERE id = :id")
_STORED = text(
    f"""
    SELECT id, type, payload::text AS payload, received_at, processed_at, outcome, attempts,
           {_STATUS_SQL} AS status
      FROM webhook_events WHERE id = :id
    """  # noqa: S608 - only the constant status expression is interpolated
)
# A replay's claim: locks the row and says whether it still needs processing.
_CLAIM_STORED = text(
    """
    UPDATE webhook_events SET attempts = attempts + 1
     WHERE id = :id AND processed_at IS NULL
    RETURNING 1
    """
)

_PAGE = text(
    f"""
    SELECT id, type, received_at, processed_at, outcome, attempts, {_STATUS_SQL} AS status
      FROM webhook_events
     WHERE (CAST(:type AS text) IS NULL OR type = CAST(:type AS text))
       AND (CAST(:status AS text) IS NULL OR {_STATUS_SQL} = CAST(:status AS text))
       AND (CAST(:since AS timestamptz) IS NULL OR received_at >= CAST(:since AS timestamptz))
       AND (CAST(:after_received AS timestamptz) IS NULL
            OR (received_at, id) < (CAST(:after_received AS timestamptz), CAST(:after_id AS text)))
     ORDER BY received_at DESC, id DESC
     LIMIT :limit
    """  # noqa: S608 - only constant SQL is interpolated
)


async def claim_event(session: SqlSession, event_id: str, event_type: str, payload: str) -> bool:
    """True if the event is to be handled now (new, or stored and not processed)."""
    result = await session.execute(CLAIM, {"id": event_id, "type": event_type, "payload": payload})
    return result.first() is not None


async def mark_processed(session: SqlSession, event_id: str, outcome: str) -> None:
    await session.execute(PROCESSED, {"id": event_id, "outcome": outcome})


async def note_unprocessed(session: SqlSession, event_id: str, outcome: str) -> None:
    """Say why the event is kept unprocessed, leaving processed_at NULL so it can be replayed."""
    await session.execute(_NOTED, {"id": event_id, "outcome": outcome})


async def note_failure(
    session: SqlSession, event_id: str, event_type: str, payload: str, error: str
) -> None:
    await session.execute(
        _FAILED,
        {"id": event_id, "type": event_type, "payload": payload,
         "outcome": (FAILED_PREFIX + error)[:2000]},
    )  # fmt: skip


async def is_processed(session: SqlSession, event_id: str) -> bool:
    return bool(await session.scalar(_IS_PROCESSED, {"id": event_id}))


async def stored(session: SqlSession, event_id: str) -> Row[Any] | None:
    return (await session.execute(_STORED, {"id": event_id})).one_or_none()


async def claim_stored(session: SqlSession, event_id: str) -> bool:
    return (await session.execute(_CLAIM_STORED, {"id": event_id})).first() is not None


async def page(
    session: SqlSession,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    event_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> list[Row[Any]]:
    after_received, after_id = after if after is not None else (None, None)
    result = await session.execute(
        _PAGE,
        {"type": event_type, "status": status, "since": since,
         "after_received": after_received, "after_id": after_id, "limit": limit},
    )  # fmt: skip
    return list(result)
