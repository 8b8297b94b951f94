"""GET /health: 200 when the database answers, 503 when it does not."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from medgrader.core.deps import Ctx
from medgrader.core.openapi import errors

router = APIRouter(tags=["health"])


@router.get("/health", responses=errors(503, s503="db_unavailable: the database does not answer"))
async def health(ctx: Ctx) -> JSONResponse:
    try:
        async with asyncio.timeout(3), ctx.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to answer is "unavailable"; the reason goes to the log
        return JSONResponse(
            {"status": "unavailable", "error": "Database unavailable.", "code": "db_unavailable"},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})
