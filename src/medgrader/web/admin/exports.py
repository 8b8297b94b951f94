"""/admin/exports: CSV of payments and of ledger entries for a range of London days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from medgrader.analytics import service as analytics
from medgrader.backoffice import exports
from medgrader.core.deps import Ctx
from medgrader.web.deps import PageAdmin
from medgrader.web.forms import optional_date
from medgrader.web.rendering import render

router = APIRouter(include_in_schema=False)
MAX_EXPORT_DAYS = 3660
DateText = Annotated[str | None, Query(max_length=10)]


@router.get("/admin/exports")
async def exports_page(request: Request, _: PageAdmin) -> Response:
    days = analytics.day_range(None, None)
    return render(request, "admin/exports.html", days=days, section="exports")


def _csv(rows: AsyncIterator[str], name: str, days: analytics.DayRange) -> StreamingResponse:
    filename = f"{name}-{days.first.isoformat()}-to-{days.last.isoformat()}.csv"
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _days(from_: str | None, to: str | None) -> analytics.DayRange:
    return analytics.day_range(optional_date(from_), optional_date(to), max_days=MAX_EXPORT_DAYS)


@router.get("/admin/exports/payments.csv")
async def payments_csv(
    ctx: Ctx,
    _: PageAdmin,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: DateText = None,
) -> Response:
    days = _days(from_, to)
    return _csv(exports.payments_csv(ctx, days.start, days.end), "payments", days)


@router.get("/admin/exports/ledger.csv")
async def ledger_csv(
    ctx: Ctx,
    _: PageAdmin,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: DateText = None,
) -> Response:
    days = _days(from_, to)
    return _csv(exports.ledger_csv(ctx, days.start, days.end), "ledger", days)
