"""``/v1/refunds``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.operations import refunds as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/refunds")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_refund(emulator(request), params, context(request)), params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond_list(request, ops.list_refunds(emulator(request), params), params, "/v1/refunds")


@router.get("/{refund_id}")
async def retrieve(request: Request, refund_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_refund(emulator(request), refund_id), params)
