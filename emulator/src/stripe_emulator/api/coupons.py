"""``/v1/coupons``: create, retrieve, update, delete, list."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.operations import coupons as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/coupons")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_coupon(emulator(request), params, context(request)), params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond_list(request, ops.list_coupons(emulator(request), params), params, "/v1/coupons")


@router.get("/{coupon_id}")
async def retrieve(request: Request, coupon_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_coupon(emulator(request), coupon_id), params)


@router.post("/{coupon_id}")
async def update(request: Request, coupon_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    coupon = ops.update_coupon(emulator(request), coupon_id, params, context(request))
    return respond(request, coupon, params)


@router.delete("/{coupon_id}")
async def delete(request: Request, coupon_id: str) -> StripeJSONResponse:
    return StripeJSONResponse(ops.delete_coupon(emulator(request), coupon_id, context(request)))
