"""The edge's side of Stripe events: a live delivery and the replay of a stored event, each in
a unit of work of its own that asks Stripe (when the type needs it) with no connection held.

A delivery: [look: has the event been processed? do we know the payment?] `external_call`
[ask Stripe] then [claim the inbox row, run the handler, mark it]: the reads commit before the
call, the writes commit together or not at all. A failure is rolled back whole and recorded on
the event afterwards, in a unit of work of its own (`record_failure`), so Stripe's retry or a
replay handles it again.

The replay claims the stored row (`UPDATE ... WHERE processed_at IS NULL`, which also locks
it), so a replay racing another replay or Stripe's own re-delivery of the same event runs the
handler once: the other finds the row processed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from medgrader.core.context import AppContext
from medgrader.db.session import Db
from medgrader.db.transactions import external_call, unit_of_work
from medgrader.webhooks import repository as inbox
from medgrader.webhooks import service
from medgrader.webhooks.errors import AlreadyProcessed, WebhookEventNotFound
from medgrader.webhooks.service import Event, dispatch, handle_event, parse_event

log = structlog.get_logger(__name__)


async def _prepared(db: Db, ctx: AppContext, event: Event, *, skip_if_processed: bool) -> Any:
    """What the handler needs from Stripe: read, then asked with no connection held."""
    if not service.asks_stripe(event):
        return None
    looked = await service.look(db, event, skip_if_processed=skip_if_processed)
    async with external_call(db):
        return await service.ask(ctx, event, looked)


async def deliver(ctx: AppContext, event: Event, raw_body: str) -> str:
    """Process a live delivery once; its outcome ("duplicate" if processed before). Raises
    whatever failed, after recording it on the event."""
    try:
        async with unit_of_work(ctx.db_pool) as db:
            prepared = await _prepared(db, ctx, event, skip_if_processed=True)
            return await handle_event(db, event, raw_body, prepared)
    except Exception as exc:
        await record_failure(ctx, event, raw_body, exc)
        raise


async def record_failure(ctx: AppContext, event: Event, raw_body: str, exc: BaseException) -> None:
    """Best effort: the database may be what failed."""
    try:
        async with unit_of_work(ctx.db_pool) as db:
            await service.record_failure(db, event, raw_body, exc)
    except Exception:  # the original error is what matters; this one is only logged
        log.warning("could not record a webhook failure", event_id=event.id, exc_info=True)


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
        return "unprocessed" if service.is_handled(self.event_type) else "unhandled"


async def replay_event(ctx: AppContext, event_id: str) -> ReplayResult:
    """Process one stored, unprocessed event now. Raises WebhookEventNotFound,
    AlreadyProcessed, and whatever the handler raises (recorded on the event as a failure).
    Call it holding no connection (an endpoint wraps it in `external_call`)."""
    async with unit_of_work(ctx.db_pool) as db:
        row = await inbox.stored(db, event_id, service.handled_types())
    if row is None:
        raise WebhookEventNotFound()
    if row.processed_at is not None:
        raise AlreadyProcessed()
    event = parse_event(json.loads(row.payload))
    try:
        async with unit_of_work(ctx.db_pool) as db:
            prepared = await _prepared(db, ctx, event, skip_if_processed=False)
            if not await inbox.claim_stored(db, event_id):
                raise AlreadyProcessed()
            outcome = await dispatch(db, event, prepared)
    except AlreadyProcessed:
        raise
    except Exception as exc:
        await record_failure(ctx, event, row.payload, exc)
        raise
    return ReplayResult(event.id, event.type, outcome.code, outcome.processed)


async def replayable_ids(
    db: Db,
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
    for status in ("unprocessed", "failed"):  # processed events are never walked
        after = None
        while page := await inbox.page(
            db, limit=500, after=after, handled=service.handled_types(),
            event_type=event_type, status=status, since=since,
        ):  # fmt: skip
            rows += page
            after = (page[-1].received_at, page[-1].id)
    return [row.id for row in sorted(rows, key=lambda row: (row.received_at, row.id))]
