"""HTTP: GET /api/admin/analytics/summary and /daily (administrators only)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from medgrader.analytics import service
from medgrader.analytics.schemas import Daily, Summary
from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import DbSession

router = APIRouter(prefix="/api/admin/analytics", tags=["analytics"])

From = Annotated[
    date | None, Query(alias="from", description="First London day (YYYY-MM-DD), included")
]
To = Annotated[date | None, Query(description="Last London day (YYYY-MM-DD), included")]


@router.get("/summary", response_model=Summary, response_model_by_alias=True)
async def summary(
    _: CurrentAdmin, session: DbSession, from_: From = None, to: To = None
) -> Summary:
    """Revenue (gross, refunds, disputes, net, in pence), checkout conversion and sales by
    package for the range (default: the last 30 days), and what stands now: credits
    outstanding and their value, open disputes, unprocessed webhook events, the last audit."""
    return await service.summary(session, service.day_range(from_, to))


@router.get("/daily", response_model=Daily, response_model_by_alias=True)
async def daily(_: CurrentAdmin, session: DbSession, from_: From = None, to: To = None) -> Daily:
    """One row per London day of the range (at most 366 days), days without sales included."""
    return await service.daily(
        session, service.day_range(from_, to, max_days=service.MAX_DAILY_DAYS)
    )
