"""HTTP: POST /api/credits/redeem (a student redeems a credit code)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import JSONResponse

from medgrader.auth.deps import CurrentStudent
from medgrader.core.deps import RequestDb
from medgrader.core.errors import replayed_header
from medgrader.core.openapi import errors, idempotency_key_required
from medgrader.promotions import offers
from medgrader.promotions.schemas import RedeemOut, RedeemRequest

router = APIRouter(prefix="/api/credits", tags=["promotions"])
_ERRORS = errors(
    400,
    409,
    422,
    s400="idempotency_key_required or invalid_idempotency_key",
    s409="idempotency_key_reused or request_in_progress",
    s422="promotion_not_found, promotion_not_applicable (a purchase code), "
    "promotion_exhausted, promotion_already_used",
)
_ERRORS = errors(
    400,
    409,
    422,
    s400="idempotency_key_required or invalid_idempotency_key",
    s409="idempotency_key_reused or request_in_progress",
    s422="promotion_not_found, promotion_not_applicable (a purchase code), "
    "promotion_exhausted, promotion_already_used",
)


@router.post(
    "/redeem",
    status_code=status.HTTP_201_CREATED,
    response_model=RedeemOut,
    responses=_ERRORS,
    openapi_extra=idempotency_key_required(),
)
async def redeem(
    body: RedeemRequest,
    db: RequestDb,
    student: CurrentStudent,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Redeem a credit code once per Idempotency-Key; a replay answers the first answer."""
    done = await offers.redeem_once(db, student.id, body.code, idempotency_key or "")
    return JSONResponse(
        done.value.model_dump(mode="json", by_alias=True),
        status_code=201,
        headers=replayed_header(done.replayed),
    )
