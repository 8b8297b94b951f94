"""/admin/exports: CSV of payments, of ledger entries and of VAT documents for a range of
London days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from medgrader.analytics import service as analytics
from medgrader.backoffice import exports
from medgrader.core.context import AppContext
from medgrader.core.deps import Ctx
from medgrader.core.errors import NotFound
from medgrader.db.transactions import unit_of_work
from medgrader.web.deps import PageAdmin
from medgrader.web.rendering import render

router = APIRouter(include_in_schema=False)
MAX_EXPORT_DAYS = 3660
DateText = Annotated[str | None, Query(max_length=10)]


@router.get("/admin/exports")
async def exports_page(request: Request, _: PageAdmin) -> Response:
    days = analytics.day_range(None, None)
    return render(request, "admin/exports.html", days=days, section="exports")


EXPORTS = {
    "payments": exports.payments_csv,
    "ledger": exports.ledger_csv,
    "vat-documents": exports.vat_documents_csv,
}


@router.get("/admin/exports/{name}.csv")
async def export_csv(
    name: str,
    ctx: Ctx,
    _: PageAdmin,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: DateText = None,
) -> Response:
    """payments.csv or ledger.csv for the London days from..to (both included)."""
    if name not in EXPORTS:
        raise NotFound("No such export.")
    days = analytics.day_range(
        analytics.parse_day(from_), analytics.parse_day(to), max_days=MAX_EXPORT_DAYS
    )
    filename = f"{name}-{days.first.isoformat()}-to-{days.last.isoformat()}.csv"
    return StreamingResponse(
        _streamed(ctx, name, days.start, days.end),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _streamed(
    ctx: AppContext, name: str, start: datetime, end: datetime
) -> AsyncIterator[str]:
    """The export's own unit of work, streaming (no pipeline: a server-side cursor), opened
    when the response starts and ended with it: the request's own has committed by then."""
    async with unit_of_work(ctx.db_pool, pipeline=False) as db:
        async for chunk in EXPORTS[name](db, start, end):
            yield chunk
