"""The webhook inbox: one row per Stripe event id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, text

from medgrader.db.session import Db, no_rows

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


# An event's status: processed; failed (its last handling raised; kept to retry); unprocessed
# (a handled type that waits: for a replay, a later delivery, a payment we do not know yet);
# unhandled (a type with no handler: stored, acknowledged, replayable once one exists).
class InboxStatus(StrEnum):
    PROCESSED = "processed"
    UNPROCESSED = "unprocessed"
    FAILED = "failed"
    UNHANDLED = "unhandled"


STATUSES = tuple(InboxStatus)
# "Handled" is the dispatcher's table (webhooks.service.handled_types()), bound as :handled to
# every statement that says a status: a type that gains a handler is unprocessed, not
# unhandled, from then on, with nothing to migrate.
STATUS_SQL = f"""CASE WHEN processed_at IS NOT NULL THEN 'processed'
                      WHEN outcome LIKE '{FAILED_PREFIX}%' THEN 'failed'
                      WHEN type = ANY(CAST(:handled AS text[])) THEN 'unprocessed'
                      ELSE 'unhandled' END"""
_IS_PROCESSED = text("SELECT processed_at IS NOT NULL FROM webhook_events WHERE id = :id")
_STORED = text(
    f"""
    SELECT id, type, payload::text AS payload, received_at, processed_at, outcome, attempts,
           {STATUS_SQL} AS status
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
    SELECT id, type, received_at, processed_at, outcome, attempts, {STATUS_SQL} AS status
      FROM webhook_events
     WHERE (CAST(:type AS text) IS NULL OR type = CAST(:type AS text))
       AND (CAST(:status AS text) IS NULL OR {STATUS_SQL} = CAST(:status AS text))
       AND (CAST(:since AS timestamptz) IS NULL OR received_at >= CAST(:since AS timestamptz))
       AND (CAST(:after_received AS timestamptz) IS NULL
            OR (received_at, id) < (CAST(:after_received AS timestamptz), CAST(:after_id AS text)))
     ORDER BY received_at DESC, id DESC
     LIMIT :limit
    """  # noqa: S608 - only constant SQL is interpolated
)


async def claim_event(db: Db, event_id: str, event_type: str, payload: str) -> bool:
    """True if the event is to be handled now (new, or stored and not processed)."""
    result = await db.execute(CLAIM, {"id": event_id, "type": event_type, "payload": payload})
    return result.first() is not None


async def mark_processed(db: Db, event_id: str, outcome: str) -> None:
    await db.execute(PROCESSED, {"id": event_id, "outcome": outcome})


async def note_unprocessed(db: Db, event_id: str, outcome: str) -> None:
    """Say why the event is kept unprocessed, leaving processed_at NULL so it can be replayed."""
    await db.execute(_NOTED, {"id": event_id, "outcome": outcome})


async def note_failure(db: Db, event_id: str, event_type: str, payload: str, error: str) -> None:
    await db.execute(
        _FAILED,
        {"id": event_id, "type": event_type, "payload": payload,
         "outcome": (FAILED_PREFIX + error)[:2000]},
    )  # fmt: skip


async def is_processed(db: Db, event_id: str) -> bool:
    return bool(await db.scalar(_IS_PROCESSED, {"id": event_id}))


async def stored(db: Db, event_id: str, handled: Sequence[str]) -> Row[Any] | None:
    return (await db.execute(_STORED, {"id": event_id, "handled": list(handled)})).one_or_none()


async def claim_stored(db: Db, event_id: str) -> bool:
    return (await db.execute(_CLAIM_STORED, {"id": event_id})).first() is not None


async def page(
    db: Db,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    handled: Sequence[str],
    event_type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> list[Row[Any]]:
    after_received, after_id = after if after is not None else (None, None)
    result = await db.execute(
        _PAGE,
        {"type": event_type, "status": status, "since": since, "handled": list(handled),
         "after_received": after_received, "after_id": after_id, "limit": limit},
    )  # fmt: skip
    return list(result)


# Retention: one batch of events older than :days days that nobody needs any more: processed
# that long ago, or of a type no handler acts on. Failed and waiting (unprocessed) events stay
# whatever their age. SKIP LOCKED: a row a delivery or replay holds right now is left for the
# next run, so the purge never waits for a delivery (a redelivery of a row being deleted waits
# for the batch's commit, then stores the event afresh).
_PURGE = text(
    f"""
    WITH doomed AS (
        SELECT id FROM webhook_events
         WHERE received_at < now() - :days * INTERVAL '1 day'
           AND (processed_at < now() - :days * INTERVAL '1 day'
                OR (processed_at IS NULL AND {STATUS_SQL} = 'unhandled'))
         ORDER BY received_at
         LIMIT :batch
           FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM webhook_events e USING doomed WHERE e.id = doomed.id RETURNING 1
    )
    SELECT count(*) FROM gone
    """  # noqa: S608 - only the constant status expression is interpolated
)


async def purge_batch(db: Db, *, days: int, batch: int, handled: Sequence[str]) -> int:
    """Delete up to `batch` events past retention (see _PURGE); how many went."""
    params = {"days": days, "batch": batch, "handled": list(handled)}
    return int((await db.execute(_PURGE, params)).scalar_one())
