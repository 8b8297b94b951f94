"""``/v1/customers``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.errors import no_such
from stripe_emulator.operations import customers as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter()


@router.post("/customers")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(
        request, ops.create_customer(emulator(request), params, context(request)), params
    )


@router.get("/customers")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    items = ops.list_customers(emulator(request), params)
    return respond_list(request, items, params, "/v1/customers")


@router.get("/customers/{customer_id}")
async def retrieve(request: Request, customer_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    customer = emulator(request).store.customers.get(customer_id)
    if customer is None:
        raise no_such("customer", customer_id)
    return respond(request, customer, params)


@router.post("/customers/{customer_id}")
async def update(request: Request, customer_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    customer = ops.update_customer(emulator(request), customer_id, params, context(request))
    return respond(request, customer, params)


@router.delete("/customers/{customer_id}")
async def delete(request: Request, customer_id: str) -> StripeJSONResponse:
    return StripeJSONResponse(ops.delete_customer(emulator(request), customer_id, context(request)))
