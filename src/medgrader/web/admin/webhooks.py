"""/admin/webhook-events: the inbox with filters, an event's payload."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.backoffice import repository as records
from medgrader.core.deps import DbSession
from medgrader.core.errors import NotFound
from medgrader.web.deps import PageAdmin
from medgrader.web.rendering import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Text = Annotated[str | None, Query(max_length=200)]


class EventNotFound(NotFound):
    code, message = "webhook_event_not_found", "No such webhook event."


@router.get("/admin/webhook-events")
async def events(
    request: Request,
    _: PageAdmin,
    session: DbSession,
    type: Text = None,
    outcome: Text = None,
    unprocessed: Annotated[bool, Query()] = False,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    filters = records.EventFilters(
        type=type or None, outcome=(outcome or "").strip() or None, unprocessed=unprocessed
    )
    rows = await records.events(session, filters, limit=PAGE + 1, offset=page * PAGE)
    return render(
        request,
        "admin/webhook_events.html",
        events=rows[:PAGE],
        more=len(rows) > PAGE,
        page=page,
        types=await records.event_types(session),
        filters={"type": type or "", "outcome": outcome or "", "unprocessed": unprocessed},
        section="webhooks",
    )


async def event_page(
    request: Request, session: DbSession, event_id: str, *, status: int = 200, **extra: object
) -> Response:
    row = await records.event(session, event_id)
    if row is None:
        raise EventNotFound()
    try:
        pretty = json.dumps(json.loads(row.payload), indent=2, sort_keys=True)
    except ValueError:
        pretty = row.payload
    return render(
        request, "admin/webhook_event.html", status, event=row, payload=pretty,
        section="webhooks", **extra,
    )  # fmt: skip


@router.get("/admin/webhook-events/{event_id}")
async def event(request: Request, event_id: str, _: PageAdmin, session: DbSession) -> Response:
    return await event_page(request, session, event_id)
