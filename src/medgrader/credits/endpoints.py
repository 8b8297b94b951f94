"""HTTP: /api/credits/* (students only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse

from medgrader.auth.deps import CurrentStudent
from medgrader.core.deps import RequestDb
from medgrader.core.errors import replayed_header
from medgrader.core.openapi import errors, idempotency_key_required
from medgrader.credits import service
from medgrader.credits.schemas import (
    BalanceResponse,
    SpendRequest,
    SpendResponse,
    TransactionPage,
)

router = APIRouter(prefix="/api/credits", tags=["credits"])

_ERRORS = errors(
    400,
    402,
    403,
    409,
    s400="idempotency_key_required or invalid_idempotency_key",
    s402="insufficient_credits: the available balance (balance minus active holds) does not"
    " cover it, or is negative",
    s403="student_only",
    s409="idempotency_key_reused or request_in_progress",
)


@router.post(
    "/spend",
    status_code=status.HTTP_201_CREATED,
    response_model=SpendResponse,
    responses=_ERRORS,  # type: ignore[arg-type]
    openapi_extra=idempotency_key_required(),
)
async def spend(
    body: SpendRequest,
    db: RequestDb,
    student: CurrentStudent,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Spend credits once per Idempotency-Key. A replay answers the first status and body."""
    spent = await service.spend_credits(
        db,
        student_id=student.id,
        amount=body.amount,
        reason=body.reason,
        idempotency_key=idempotency_key or "",  # missing → 400 idempotency_key_required
    )
    return JSONResponse(spent.body(), status_code=201, headers=replayed_header(spent.replayed))


@router.get("/balance", response_model=BalanceResponse)
async def balance(student: CurrentStudent, db: RequestDb) -> BalanceResponse:
    """Your balance, what active holds reserve of it, and what is available to spend."""
    return await service.get_balances(db, student.id)


@router.get(
    "/transactions",
    response_model=TransactionPage,
    responses=errors(400, s400="invalid_cursor: not a cursor this API handed out"),
)
async def transactions(
    student: CurrentStudent,
    db: RequestDb,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    type_filter: Annotated[
        str | None,
        Query(
            alias="type",
            max_length=200,
            pattern=service.TYPE_FILTER_PATTERN,
            description="Comma-separated CREDIT/DEBIT and/or source types, e.g. USAGE",
        ),
    ] = None,
) -> TransactionPage:
    """Your ledger, newest first. Pass the previous page's nextCursor as `cursor`."""
    return await service.list_transactions(
        db, student.id, limit=limit, cursor=cursor, type_filter=type_filter
    )
