"""``/v1/test_helpers/test_clocks``: create, retrieve, list, delete, advance."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.operations import test_clocks as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/test_helpers/test_clocks")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_clock(emulator(request), params, context(request)), params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    items = ops.list_clocks(emulator(request), params)
    return respond_list(request, items, params, "/v1/test_helpers/test_clocks")


@router.get("/{clock_id}")
async def retrieve(request: Request, clock_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_clock(emulator(request), clock_id), params)


@router.delete("/{clock_id}")
async def delete(request: Request, clock_id: str) -> StripeJSONResponse:
    return StripeJSONResponse(ops.delete_clock(emulator(request), clock_id, context(request)))


@router.post("/{clock_id}/advance")
async def advance(request: Request, clock_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    clock = ops.advance_clock(emulator(request), clock_id, params, context(request))
    # The answer shows the clock advancing; the work runs once it has been sent.
    return respond(request, clock, params)
