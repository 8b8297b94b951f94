"""/admin: the figures, from the same analytics service as /api/admin/analytics/*."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from medgrader.analytics import service as analytics
from medgrader.audit.runs import audit_and_record
from medgrader.core.deps import RequestDb
from medgrader.core.errors import AppError
from medgrader.documents.report import quarter_of, vat_report
from medgrader.models.topups import AttemptStatus
from medgrader.topups import repository as top_up_attempts
from medgrader.web.charts import daily_revenue
from medgrader.web.deps import Csrf, PageAdmin
from medgrader.web.rendering import redirect, render

router = APIRouter(include_in_schema=False)
PRESETS = (("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30))


@router.get("/admin")
async def dashboard(
    request: Request,
    _: PageAdmin,
    db: RequestDb,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    error = None
    try:
        chosen = analytics.day_range(
            analytics.parse_day(from_), analytics.parse_day(to), max_days=analytics.MAX_DAILY_DAYS
        )
    except AppError as exc:
        error, chosen = exc.message, analytics.day_range(None, None)
    cards = [(label, await analytics.money(db, analytics.last_days(n))) for label, n in PRESETS]
    summary = await analytics.summary(db, chosen)
    quarter = quarter_of(analytics.today_in_london())
    vat = await vat_report(db, *quarter)
    daily = await analytics.daily(db, chosen)
    top_ups = await top_up_attempts.outcome_counts(db, chosen.start, chosen.end)
    return render(
        request,
        "admin/dashboard.html",
        cards=cards,
        summary=summary,
        chart=daily_revenue(daily.days),
        top_ups=[(status, *top_ups.get(status, (0, 0))) for status in AttemptStatus],
        error=error,
        vat=vat,
        section="dashboard",
    )


@router.post("/admin/audit", dependencies=[Csrf])
async def run_audit_now(request: Request, _: PageAdmin, db: RequestDb) -> Response:
    """Run the ledger audit now (the periodic job does it hourly) and store the result."""
    await audit_and_record(db)
    return redirect(request, "/admin#audit")
