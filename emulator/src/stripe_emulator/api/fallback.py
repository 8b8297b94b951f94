"""Unknown ``/v1/...`` URLs answer like Stripe's, not with FastAPI's default 404."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.errors import unrecognized_url

router = APIRouter()


@router.api_route("/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
async def unrecognized(request: Request, path: str) -> None:
    raise unrecognized_url(request.method, f"/v1/{path}")
