"""HTTP: GET /api/admin/analytics/summary and /daily (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from medgrader.analytics import service
from medgrader.analytics.schemas import Daily, Summary
from medgrader.auth.deps import CurrentAdmin
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.lots.schemas import CreditLiability

router = APIRouter(prefix="/api/admin/analytics", tags=["analytics"])

# Strings of one shape, parsed by the service: FastAPI's own date type also takes 0 or 1e9
# as days since 1970. 422 invalid_range for a day that does not exist, a reversed range or
# one too long.
_DAY = {"pattern": service.DAY_PATTERN, "json_schema_extra": {"format": "date"}}
From = Annotated[
    str | None,
    Query(alias="from", description="First London day (YYYY-MM-DD), included", **_DAY),
]
To = Annotated[str | None, Query(description="Last London day (YYYY-MM-DD), included", **_DAY)]


_RANGE = errors(422, s422="invalid_range: a day that does not exist, from after to, or daily "
                           "over more than 366 days")  # fmt: skip


@router.get("/summary", response_model=Summary, response_model_by_alias=True, responses=_RANGE)
async def summary(_: CurrentAdmin, db: RequestDb, from_: From = None, to: To = None) -> Summary:
    """Revenue (gross, refunds, disputes, net, in pence), checkout conversion and sales by
    package for the range (default: the last 30 days), and what stands now: credits
    outstanding and their value, open disputes, unprocessed webhook events, the last audit."""
    days = service.day_range(service.parse_day(from_), service.parse_day(to))
    return await service.summary(db, days)


@router.get("/daily", response_model=Daily, response_model_by_alias=True, responses=_RANGE)
async def daily(_: CurrentAdmin, db: RequestDb, from_: From = None, to: To = None) -> Daily:
    """One row per London day of the range (at most 366 days), days without sales included."""
    days = service.day_range(
        service.parse_day(from_), service.parse_day(to), max_days=service.MAX_DAILY_DAYS
    )
    return await service.daily(db, days)


@router.get(
    "/credit-liability",
    response_model=CreditLiability,
    response_model_by_alias=True,
    responses=errors(422, s422="invalid_range: a day that does not exist"),
)
async def credit_liability(
    _: CurrentAdmin,
    db: RequestDb,
    at: Annotated[
        str | None,
        Query(description="London day (YYYY-MM-DD): at its end; default now", **_DAY),
    ] = None,
) -> CreditLiability:
    """What students hold at the end of that London day (default: now): paid and granted
    credits outstanding, and the deferred revenue (the value of unspent, unexpired paid
    credits, in minor units: each paid lot's value less floor(value * used / amount))."""
    return await service.credit_liability(db, service.parse_day(at))
