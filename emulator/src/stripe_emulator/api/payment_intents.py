"""``/v1/payment_intents`` (read-only: Checkout creates them)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import PAGINATION, emulator, read_params, respond, respond_list
from stripe_emulator.errors import no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/payment_intents")


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
    pi = emulator(request).store.payment_intents.get(payment_intent_id)
    if pi is None:
        raise no_such("payment_intent", payment_intent_id)
    return respond(request, pi, params)
