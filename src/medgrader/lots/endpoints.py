"""HTTP: GET /api/credits/lots (the student's own lots)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from medgrader.auth.deps import CurrentStudent
from medgrader.core.deps import RequestDb
from medgrader.core.openapi import errors
from medgrader.core.schemas import names_pattern
from medgrader.lots import service
from medgrader.lots.schemas import LOT_STATUSES, LotPage

router = APIRouter(prefix="/api/credits/lots", tags=["credits"])


@router.get("", response_model=LotPage, responses=errors(400, s400="invalid_cursor"))
async def list_lots(
    student: CurrentStudent,
    db: RequestDb,
    status_filter: Annotated[
        str | None,
        Query(
            alias="status",
            max_length=20,
            description="active, expired or consumed",
            pattern=names_pattern(LOT_STATUSES, many=False, blank=False),  # any case
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LotPage:
    """Your credit lots (where your credits came from, what is left, until when), newest
    first. Pass the previous page's nextCursor as `cursor`."""
    return await service.list_lots(db, student.id, status=status_filter, limit=limit, cursor=cursor)
