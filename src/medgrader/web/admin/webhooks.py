"""/admin/webhook-events: the inbox with filters, an event's payload, and Replay (the same
inbox queries and replay service as /api/admin/webhook-events)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.backoffice import repository as records
from medgrader.core.cursor import decode_position, encode_position
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import AppError
from medgrader.core.statuses import status_of
from medgrader.db.session import Db
from medgrader.db.transactions import external_call
from medgrader.web.deps import Csrf, PageAdmin
from medgrader.web.rendering import redirect, render
from medgrader.webhooks import repository as inbox
from medgrader.webhooks.errors import WebhookEventNotFound
from medgrader.webhooks.flows import replay_event
from medgrader.webhooks.service import handled_types

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str | None, Query(max_length=300)]


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    return decode_position(cursor) if cursor else None


@router.get("/admin/webhook-events")
async def events(
    request: Request,
    _: PageAdmin,
    db: RequestDb,
    type: Text = None,
    status: Text = None,
    cursor: Text = None,
) -> Response:
    chosen = status if status in inbox.STATUSES else None
    rows = await inbox.page(
        db, limit=PAGE + 1, after=_after(cursor), handled=handled_types(),
        event_type=type or None, status=chosen,
    )  # fmt: skip
    page = rows[:PAGE]
    more = len(rows) > PAGE and page
    return render(
        request,
        "admin/webhook_events.html",
        events=page,
        next_cursor=encode_position(page[-1].received_at, page[-1].id) if more else None,
        types=await records.event_types(db),
        statuses=inbox.STATUSES,
        filters={"type": type or "", "status": chosen or ""},
        section="webhooks",
    )


async def _event_page(
    request: Request, db: Db, event_id: str, *, status: int = 200,
    **extra: object,
) -> Response:  # fmt: skip
    row = await inbox.stored(db, event_id, handled_types())
    if row is None:
        raise WebhookEventNotFound()
    try:
        pretty = json.dumps(json.loads(row.payload), indent=2, sort_keys=True)
    except ValueError:
        pretty = row.payload
    failed = row.status == "failed"
    return render(
        request, "admin/webhook_event.html", status, event=row, payload=pretty, failed=failed,
        section="webhooks", **extra,
    )  # fmt: skip


@router.get("/admin/webhook-events/{event_id}")
async def event(request: Request, event_id: str, _: PageAdmin, db: RequestDb) -> Response:
    replayed = request.query_params.get("replayed")
    notice = f"Replayed: {replayed}." if replayed else None
    return await _event_page(request, db, event_id, notice=notice)


@router.post("/admin/webhook-events/{event_id}/replay", dependencies=[Csrf])
async def replay(
    request: Request, event_id: str, _: PageAdmin, db: RequestDb, ctx: Ctx
) -> Response:
    """Process the stored event now through today's handlers (the replay asks Stripe first,
    in units of work of its own: this page holds no connection meanwhile)."""
    try:
        async with external_call(db):
            result = await replay_event(ctx, event_id)
    except WebhookEventNotFound:
        raise
    except AppError as exc:
        return await _event_page(request, db, event_id, status=status_of(exc), error=exc.message)
    return redirect(request, f"/admin/webhook-events/{event_id}?replayed={result.outcome}")
