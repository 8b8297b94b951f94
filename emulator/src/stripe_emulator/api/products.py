"""``/v1/products`` and ``/v1/prices``: the catalogue that subscriptions bill."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import context, emulator, read_params, respond, respond_list
from stripe_emulator.operations import catalog as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter()


@router.post("/products")
async def create_product(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_product(emulator(request), params, context(request)), params)


@router.get("/products")
async def list_products(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    items = ops.list_products(emulator(request), params)
    return respond_list(request, items, params, "/v1/products")


@router.get("/products/{product_id}")
async def retrieve_product(request: Request, product_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_product(emulator(request), product_id), params)


@router.post("/products/{product_id}")
async def update_product(request: Request, product_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    product = ops.update_product(emulator(request), product_id, params, context(request))
    return respond(request, product, params)


@router.delete("/products/{product_id}")
async def delete_product(request: Request, product_id: str) -> StripeJSONResponse:
    stub = ops.delete_product(emulator(request), product_id, context(request))
    return StripeJSONResponse(stub)


@router.post("/prices")
async def create_price(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond(request, ops.create_price(emulator(request), params, context(request)), params)


@router.get("/prices")
async def list_prices(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    return respond_list(request, ops.list_prices(emulator(request), params), params, "/v1/prices")


@router.get("/prices/{price_id}")
async def retrieve_price(request: Request, price_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_price(emulator(request), price_id), params)


@router.post("/prices/{price_id}")
async def update_price(request: Request, price_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    price = ops.update_price(emulator(request), price_id, params, context(request))
    return respond(request, price, params)
