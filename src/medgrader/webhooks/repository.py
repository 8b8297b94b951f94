"""The webhook inbox: one row per Stripe event id."""

from __future__ import annotations

from sqlalchemy import text

from medgrader.db.lean import SqlSession, no_rows

# The raw body goes in as text and PostgreSQL checks it: no second JSON encoding in Python.
# Stored as json, not jsonb: the exact bytes Stripe signed, and jsonb would refuse a \u0000
# that a customer typed into the hosted page (every delivery of that event would then fail).
# Read payloads back as text (payload::text) and parse them in Python: PostgreSQL's json
# operators (->, ->>) de-escape what they walk through and fail on such a \u0000.
# A concurrent delivery of the same event blocks on this insert until the first commits (then
# finds the row and does nothing) or rolls back (then inserts and processes it afresh).
_INSERT = text(
    """
    INSERT INTO webhook_events (id, type, payload)
    VALUES (:id, :type, CAST(:payload AS json))
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
    """
)
_PROCESSED = no_rows(
    text("UPDATE webhook_events SET processed_at = now(), outcome = :outcome WHERE id = :id")
)
# processed_at stays NULL: the event waits in the inbox for a later handler.
_NOTED = no_rows(text("UPDATE webhook_events SET outcome = :outcome WHERE id = :id"))


async def insert_event(session: SqlSession, event_id: str, event_type: str, payload: str) -> bool:
    """True if this is the first time we see the event."""
    result = await session.execute(
        _INSERT, {"id": event_id, "type": event_type, "payload": payload}
    )
    return result.first() is not None


async def mark_processed(session: SqlSession, event_id: str, outcome: str) -> None:
    await session.execute(_PROCESSED, {"id": event_id, "outcome": outcome})


async def note_unprocessed(session: SqlSession, event_id: str, outcome: str) -> None:
    """Say why the event is kept unprocessed, leaving processed_at NULL so it can be replayed."""
    await session.execute(_NOTED, {"id": event_id, "outcome": outcome})
