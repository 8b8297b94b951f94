"""Retention of the webhook inbox: events nobody needs any more are deleted after
WEBHOOK_EVENT_RETENTION_DAYS (0 keeps them forever).

Deleted: events processed more than that many days ago, and events of types no handler acts
on (normal traffic: payment_intent.created and friends) received that long ago. Kept whatever
their age: failed events and events of handled types still waiting, which an operator must
look at. The deletion runs in batches with SKIP LOCKED, each in a unit of work of its own
(the edge, webhooks.tasks.purge_old_events, drives them for the job and for `medgrader
webhooks purge`), so it never holds
many rows at once nor waits for a delivery in progress.
"""

from __future__ import annotations

from medgrader.db.session import Db
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.service import handled_types

BATCH = 1000


async def purge_batch(db: Db, *, days: int, batch: int) -> int:
    """Delete up to `batch` events past `days` of retention; how many went."""
    return await inbox.purge_batch(db, days=days, batch=batch, handled=handled_types())
