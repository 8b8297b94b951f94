"""Retention of the webhook inbox: events nobody needs any more are deleted after
WEBHOOK_EVENT_RETENTION_DAYS (0 keeps them forever).

Deleted: events processed more than that many days ago, and events of types no handler acts
on (normal traffic: payment_intent.created and friends) received that long ago. Kept whatever
their age: failed events and events of handled types still waiting, which an operator must
look at. The deletion runs in batches, each its own short transaction with SKIP LOCKED, so it
never holds many rows at once nor waits for a delivery in progress.
"""

from __future__ import annotations

import structlog

from medgrader.core.context import AppContext, short_transaction
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.service import handled_types

log = structlog.get_logger(__name__)

BATCH = 1000


async def purge_old_events(ctx: AppContext, *, older_than_days: int, batch: int = BATCH) -> int:
    """Delete the events past retention now, `batch` rows per committed transaction; returns
    how many went. `older_than_days` 0 (or less) deletes nothing: retention is off."""
    if older_than_days <= 0:
        return 0
    removed = 0
    while True:
        async with short_transaction(ctx) as session:
            deleted = await inbox.purge_batch(
                session, days=older_than_days, batch=batch, handled=handled_types()
            )
        removed += deleted
        if deleted < batch:  # the last batch (rows locked by a delivery wait for the next run)
            break
    log.info("webhook events purged", removed=removed, older_than_days=older_than_days)
    return removed
