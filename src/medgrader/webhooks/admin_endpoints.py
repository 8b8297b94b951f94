"""HTTP: /api/admin/webhook-events (administrators only): the inbox, and replaying one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from medgrader.auth.deps import CurrentAdmin
from medgrader.core.cursor import decode_position, encode_position
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.openapi import errors
from medgrader.core.schemas import ApiModel
from medgrader.db.transactions import external_call
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.errors import WebhookEventNotFound
from medgrader.webhooks.flows import replay_event
from medgrader.webhooks.service import handled_types

router = APIRouter(prefix="/api/admin/webhook-events", tags=["admin"])


class WebhookEventOut(ApiModel):
    id: str
    type: str
    # processed; failed (kept to retry); unprocessed (a handled type waiting: for a replay, a
    # later delivery); unhandled (a type no handler acts on: replayable once one does)
    status: str
    outcome: str | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class WebhookEventDetail(WebhookEventOut):
    payload: dict[str, Any]


class WebhookEventPage(ApiModel):
    items: list[WebhookEventOut]
    next_cursor: str | None


class ReplayOut(ApiModel):
    id: str
    type: str
    outcome: str
    status: str


@router.get("", response_model=WebhookEventPage, responses=errors(400, s400="invalid_cursor"))
async def list_events(
    admin: CurrentAdmin,
    db: RequestDb,
    status: Annotated[
        inbox.InboxStatus | None,
        Query(
            description=(
                "processed; failed; unprocessed (events of handled types that wait); unhandled"
                " (events of types without a handler, replayable once one exists)"
            ),
        ),
    ] = None,
    type_filter: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> WebhookEventPage:
    """Stored Stripe events, newest first."""
    after = decode_position(cursor) if cursor else None
    rows = await inbox.page(
        db, limit=limit + 1, after=after, handled=handled_types(),
        event_type=type_filter or None, status=status.value if status else None,
    )  # fmt: skip
    page = rows[:limit]
    items = [
        WebhookEventOut(
            id=row.id, type=row.type, status=row.status, outcome=row.outcome,
            attempts=row.attempts, received_at=row.received_at, processed_at=row.processed_at,
        )
        for row in page
    ]  # fmt: skip
    more = len(rows) > limit
    return WebhookEventPage(
        items=items,
        next_cursor=encode_position(page[-1].received_at, page[-1].id) if more else None,
    )


@router.get("/{event_id}", response_model=WebhookEventDetail)
async def get_event(event_id: str, admin: CurrentAdmin, db: RequestDb) -> WebhookEventDetail:
    row = await inbox.stored(db, event_id, handled_types())
    if row is None:
        raise WebhookEventNotFound()
    return WebhookEventDetail(
        id=row.id, type=row.type, status=row.status,
        outcome=row.outcome, attempts=row.attempts, received_at=row.received_at,
        processed_at=row.processed_at, payload=json.loads(row.payload),
    )  # fmt: skip


@router.post(
    "/{event_id}/replay",
    response_model=ReplayOut,
    responses={
        404: {"description": "webhook_event_not_found"},
        409: {"description": "already_processed"},
        502: {"description": "Stripe could not be asked; the event stays unprocessed"},
    },
)
async def replay(event_id: str, admin: CurrentAdmin, db: RequestDb, ctx: Ctx) -> ReplayOut:
    """Process one stored event not processed yet through today's handlers (one of a type
    still without a handler stays unhandled)."""
    async with external_call(db):  # the replay asks Stripe first: this request holds nothing
        result = await replay_event(ctx, event_id)
    return ReplayOut(
        id=result.event_id,
        type=result.event_type,
        outcome=result.outcome,
        status=result.status,
    )
