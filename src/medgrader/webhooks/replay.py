"""Replaying stored events: the ones kept unprocessed (no handler then, a handler that waited,
or a failed attempt) go through today's handlers, exactly once.

The replay claims the stored row (`UPDATE ... WHERE processed_at IS NULL`, which also locks
it), so a replay racing another replay or Stripe's own re-delivery of the same event runs the
handler once: the other finds the row processed. What a handler must ask Stripe is asked
before the transaction, as for a live delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from medgrader.core.context import AppContext, short_transaction
from medgrader.core.errors import Conflict, NotFound
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.service import (
    dispatch,
    handled_types,
    is_handled,
    parse_event,
    prepare_event,
    record_failure,
)


class WebhookEventNotFound(NotFound):
    code, message = "webhook_event_not_found", "No such webhook event."


class AlreadyProcessed(Conflict):
    code, message = "already_processed", "This event has already been processed."


@dataclass(frozen=True)
class ReplayResult:
    event_id: str
    event_type: str
    outcome: str
    processed: bool

    @property
    def status(self) -> str:
        """The event's inbox status after the replay (it did not raise, so not failed)."""
        if self.processed:
            return "processed"
        return "unprocessed" if is_handled(self.event_type) else "unhandled"


async def replay_event(ctx: AppContext, event_id: str) -> ReplayResult:
    """Process one stored, unprocessed event now. Raises WebhookEventNotFound,
    AlreadyProcessed, and whatever the handler raises (recorded on the event as a failure)."""
    async with short_transaction(ctx) as session:
        row = await inbox.stored(session, event_id, handled_types())
    if row is None:
        raise WebhookEventNotFound()
    if row.processed_at is not None:
        raise AlreadyProcessed()
    event = parse_event(json.loads(row.payload))
    try:
        prepared = await prepare_event(ctx, event, skip_if_processed=False)
        async with short_transaction(ctx) as session:
            if not await inbox.claim_stored(session, event_id):
                raise AlreadyProcessed()
            outcome = await dispatch(session, ctx, event, prepared)
    except AlreadyProcessed:
        raise
    except Exception as exc:
        await record_failure(ctx, event, row.payload, exc)
        raise
    return ReplayResult(event.id, event.type, outcome.code, outcome.processed)


async def replayable_ids(
    ctx: AppContext,
    *,
    event_type: str | None = None,
    since: datetime | None = None,
    event_id: str | None = None,
) -> list[str]:
    """Ids of the stored events not processed yet (unprocessed or failed), oldest first.
    Unhandled ones are left: today's handlers would do nothing with them."""
    if event_id is not None:
        return [event_id]
    rows = []
    async with short_transaction(ctx) as session:
        for status in ("unprocessed", "failed"):  # processed events are never walked
            after = None
            while page := await inbox.page(
                session, limit=500, after=after, handled=handled_types(),
                event_type=event_type, status=status, since=since,
            ):  # fmt: skip
                rows += page
                after = (page[-1].received_at, page[-1].id)
    return [row.id for row in sorted(rows, key=lambda row: (row.received_at, row.id))]
