"""``/v1/checkout/sessions``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import (
    PAGINATION,
    context,
    emulator,
    read_params,
    respond,
    respond_list,
)
from stripe_emulator.operations import checkout as ops
from stripe_emulator.params import reject_unknown, updated_metadata
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/checkout/sessions")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_session(emulator(request), params, context(request)), params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    items = ops.list_sessions(emulator(request), params)
    return respond_list(request, items, params, "/v1/checkout/sessions")


@router.get("/{session_id}")
async def retrieve(request: Request, session_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_session(emulator(request), session_id), params)


@router.post("/{session_id}")
async def update(request: Request, session_id: str) -> StripeJSONResponse:
    # Stripe allows few updates on a session; metadata is the one that matters here.
    params = await read_params(request)
    reject_unknown(params, {"expand", "metadata"})
    session = ops.get_session(emulator(request), session_id)
    if "metadata" in params:
        session["metadata"] = updated_metadata(session["metadata"], params["metadata"])
    return respond(request, session, params)


@router.get("/{session_id}/line_items")
async def line_items(request: Request, session_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION)
    emu = emulator(request)
    ops.get_session(emu, session_id)
    items = emu.store.line_items.get(session_id, [])
    url = f"/v1/checkout/sessions/{session_id}/line_items"
    # Line items are listed in the order given at creation, not newest first.
    return respond_list(request, items, params, url, oldest_first=True)


@router.post("/{session_id}/expire")
async def expire(request: Request, session_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    emu = emulator(request)
    session = ops.expire_session(emu, ops.get_session(emu, session_id), context(request))
    return respond(request, session, params)
