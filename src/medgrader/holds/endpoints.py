"""HTTP: /api/credits/holds* (students only)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import JSONResponse

from medgrader.auth.deps import CurrentStudent
from medgrader.core.deps import Ctx, RequestDb
from medgrader.core.errors import replayed_header
from medgrader.core.openapi import errors, idempotency_key_required
from medgrader.core.schemas import names_pattern
from medgrader.holds import service
from medgrader.holds.errors import HoldNotFound
from medgrader.holds.limits import HoldLimits
from medgrader.holds.schemas import (
    HoldCaptureRequest,
    HoldCreateRequest,
    HoldExtendRequest,
    HoldOut,
    HoldPage,
)
from medgrader.models.holds import HoldStatus

router = APIRouter(prefix="/api/credits/holds", tags=["credit holds"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
_KEY_CONFLICTS = "idempotency_key_reused or request_in_progress"
_ERRORS = {
    400: {"description": "Missing or malformed Idempotency-Key"},
    402: {"description": "insufficient_credits: the available balance does not cover it"},
    403: {"description": "student_only"},
    404: {"description": "hold_not_found (also another student's hold)"},
    409: {"description": f"hold_expired, hold_closed, {_KEY_CONFLICTS}"},
}
_CREATE_ERRORS = _ERRORS | {
    409: {
        "description": "too_many_holds (HOLDS_MAX_ACTIVE_PER_STUDENT active already), "
        f"hold_lifetime_exceeded (ttlSeconds past HOLD_MAX_LIFETIME_SECONDS), {_KEY_CONFLICTS}"
    }
}
_EXTEND_ERRORS = _ERRORS | {
    409: {
        "description": "hold_lifetime_exceeded (the new expiry would be more than "
        "HOLD_MAX_LIFETIME_SECONDS after the hold's creation; the hold stays as it was), "
        f"hold_expired, hold_closed, {_KEY_CONFLICTS}"
    }
}


def _hold_id(raw: str) -> uuid.UUID:
    # A malformed id is just another hold that does not exist: 404, like another student's.
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise HoldNotFound() from None


async def _reply(
    operation: Awaitable[service.HoldResult], *, created: bool = False
) -> JSONResponse:
    """The hold as the operation left it: 201 when this created or captured it, else 200 (a
    replay answers the same status; a refusal is raised and rendered by the error handler)."""
    result = await operation
    status_code = 201 if created or result.hold.status == HoldStatus.CAPTURED else 200
    body = result.hold.model_dump(mode="json", by_alias=True)
    return JSONResponse(body, status_code=status_code, headers=replayed_header(result.replayed))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldOut,
    responses=_CREATE_ERRORS,  # type: ignore[arg-type]
    openapi_extra=idempotency_key_required(),
)
async def create_hold(
    body: HoldCreateRequest,
    db: RequestDb,
    student: CurrentStudent,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Reserve credits for a live call (ACTIVE until captured, released or expired)."""
    operation = service.create_hold(
        db,
        student_id=student.id,
        amount=body.amount,
        reason=body.reason,
        ttl_seconds=body.ttl_seconds,
        idempotency_key=idempotency_key or "",  # missing → 400 idempotency_key_required
        limits=HoldLimits.of(ctx.settings),
    )
    return await _reply(operation, created=True)


@router.get("", response_model=HoldPage, responses=errors(400, s400="invalid_cursor"))
async def list_holds(
    student: CurrentStudent,
    db: RequestDb,
    status_filter: Annotated[
        str | None,
        Query(
            alias="status",
            max_length=20,
            description="ACTIVE, CAPTURED, RELEASED or EXPIRED",
            pattern=names_pattern(HoldStatus.__members__, many=False, blank=False),
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HoldPage:
    """Your holds, newest first. Pass the previous page's nextCursor as `cursor`."""
    return await service.list_holds(
        db, student.id, status=status_filter, limit=limit, cursor=cursor
    )


@router.get("/{hold_id}", response_model=HoldOut, responses={404: _ERRORS[404]})
async def get_hold(hold_id: str, student: CurrentStudent, db: RequestDb) -> HoldOut:
    return await service.get_hold(db, student.id, _hold_id(hold_id))


@router.post(
    "/{hold_id}/extend",
    response_model=HoldOut,
    responses=_EXTEND_ERRORS,  # type: ignore[arg-type]
    openapi_extra=idempotency_key_required(),
)
async def extend_hold(
    hold_id: str,
    body: HoldExtendRequest,
    db: RequestDb,
    student: CurrentStudent,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Add credits to a live hold and/or renew its expiry. 402: the hold stays as it was."""
    operation = service.extend_hold(
        db,
        student_id=student.id,
        hold_id=_hold_id(hold_id),
        additional_amount=body.additional_amount,
        ttl_seconds=body.ttl_seconds,
        idempotency_key=idempotency_key or "",
        limits=HoldLimits.of(ctx.settings),
    )
    return await _reply(operation)


@router.post(
    "/{hold_id}/capture",
    status_code=status.HTTP_201_CREATED,
    response_model=HoldOut,
    responses=_ERRORS | {200: {"description": "amount 0: the hold is RELEASED"}},  # type: ignore[arg-type,operator]
    openapi_extra=idempotency_key_required(),
)
async def capture_hold(
    hold_id: str,
    db: RequestDb,
    student: CurrentStudent,
    body: HoldCaptureRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Charge what was used (default: all of it) as one USAGE entry; the rest is released."""
    operation = service.capture_hold(
        db,
        student_id=student.id,
        hold_id=_hold_id(hold_id),
        amount=body.amount if body is not None else None,
        idempotency_key=idempotency_key or "",
    )
    return await _reply(operation)


@router.post(
    "/{hold_id}/release",
    response_model=HoldOut,
    responses=_ERRORS,  # type: ignore[arg-type]
    openapi_extra=idempotency_key_required(),
)
async def release_hold(
    hold_id: str,
    db: RequestDb,
    student: CurrentStudent,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """End a live hold; nothing is charged."""
    operation = service.release_hold(
        db,
        student_id=student.id,
        hold_id=_hold_id(hold_id),
        idempotency_key=idempotency_key or "",
    )
    return await _reply(operation)
