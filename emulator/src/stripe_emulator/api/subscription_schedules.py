"""``/v1/subscription_schedules``: from a subscription, to change its price at renewal."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.operations import schedules as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/subscription_schedules")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    schedule = ops.create_schedule(emulator(request), params, context(request))
    return respond(request, schedule, params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    items = ops.list_schedules(emulator(request), params)
    return respond_list(request, items, params, "/v1/subscription_schedules")


@router.get("/{schedule_id}")
async def retrieve(request: Request, schedule_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_schedule(emulator(request), schedule_id), params)


@router.post("/{schedule_id}")
async def update(request: Request, schedule_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    schedule = ops.update_schedule(emulator(request), schedule_id, params, context(request))
    return respond(request, schedule, params)


@router.post("/{schedule_id}/release")
async def release(request: Request, schedule_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    schedule = ops.release_schedule(emulator(request), schedule_id, params, context(request))
    return respond(request, schedule, params)


@router.post("/{schedule_id}/cancel")
async def cancel(request: Request, schedule_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    schedule = ops.cancel_schedule(emulator(request), schedule_id, params, context(request))
    return respond(request, schedule, params)
