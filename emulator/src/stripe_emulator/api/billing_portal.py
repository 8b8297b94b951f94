"""``/v1/billing_portal/sessions`` (the hosted portal itself is :mod:`..portal_pages`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond
from stripe_emulator.operations.portal import create_portal_session
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/billing_portal")


@router.post("/sessions")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    session = create_portal_session(emulator(request), params, context(request))
    return respond(request, session, params)
