"""HTTP: GET /api/admin/vat-report (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from medgrader.auth.deps import CurrentAdmin
from medgrader.core import days
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.documents.report import quarter_of, vat_report
from medgrader.documents.schemas import VatReport

router = APIRouter(prefix="/api/admin", tags=["documents"])

_DAY = {"pattern": days.DAY_PATTERN, "json_schema_extra": {"format": "date"}}
From = Annotated[
    str | None,
    Query(alias="from", description="First London day of issue (YYYY-MM-DD), included", **_DAY),
]
To = Annotated[
    str | None, Query(description="Last London day of issue (YYYY-MM-DD), included", **_DAY)
]


@router.get(
    "/vat-report",
    response_model=VatReport,
    response_model_by_alias=True,
    responses=errors(422, s422="invalid_range: a day that does not exist, or from after to"),
)
async def vat_report_endpoint(
    _: CurrentAdmin, db: RequestDb, from_: From = None, to: To = None
) -> VatReport:
    """The VAT return's figures for the documents issued in the range (default: this
    quarter): vatDueMinor is box 1, netSalesMinor box 6, both exactly the documents' sums."""
    first, last = days.parse_day(from_), days.parse_day(to)
    quarter = quarter_of(last or first or days.today_in_london())
    span = days.day_range(first or quarter[0], last or quarter[1], max_days=3660)
    return await vat_report(db, span.first, span.last)
