"""``/v1/payment_intents``: list and retrieve (Checkout's too); create, confirm, cancel."""

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
from stripe_emulator.lists import created_matcher
from stripe_emulator.operations import payment_intents as ops
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/payment_intents")


@router.post("")
async def create(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    pi = ops.create_payment_intent(emulator(request), params, context(request))
    return respond(request, pi, params)


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"created", "customer", "customer_account"})
    created = created_matcher(params.get("created"))
    customer = params.get("customer")
    items = [
        pi
        for pi in emulator(request).store.payment_intents.values()
        if created(pi["created"]) and (customer is None or pi["customer"] == customer)
    ]
    return respond_list(request, items, params, "/v1/payment_intents")


@router.get("/{payment_intent_id}")
async def retrieve(request: Request, payment_intent_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand", "client_secret"})
    return respond(request, ops.get_payment_intent(emulator(request), payment_intent_id), params)


@router.post("/{payment_intent_id}/confirm")
async def confirm(request: Request, payment_intent_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    pi = ops.confirm_payment_intent(emulator(request), payment_intent_id, params, context(request))
    return respond(request, pi, params)


@router.post("/{payment_intent_id}/cancel")
async def cancel(request: Request, payment_intent_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    pi = ops.cancel_payment_intent(emulator(request), payment_intent_id, params, context(request))
    return respond(request, pi, params)
