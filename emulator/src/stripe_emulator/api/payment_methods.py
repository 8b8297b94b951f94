"""``/v1/payment_methods`` and ``/v1/customers/{id}/payment_methods``: a customer's saved
cards (list, retrieve), attach, detach, update metadata."""

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
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.operations import payment_methods as ops
from stripe_emulator.operations.customers import get_customer
from stripe_emulator.params import (
    as_enum,
    as_str,
    opt_str,
    reject_unknown,
    require,
    updated_metadata,
)
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter()

TYPES = {"card", "bacs_debit", "sepa_debit", "us_bank_account", "link"}


def _type_filter(params: dict[str, object]) -> str | None:
    raw = params.get("type")
    return None if raw in (None, "") else as_enum(raw, "type", TYPES)


@router.get("/payment_methods")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"customer", "customer_account", "type"})
    emu = emulator(request)
    customer = opt_str(params.get("customer"), "customer")
    if customer is None:
        # Without a customer Stripe lists the account's own (Treasury) methods: none here.
        items = []
    else:
        get_customer(emu, customer, param="customer")
        items = ops.customer_payment_methods(emu, customer, _type_filter(params))
    return respond_list(request, items, params, "/v1/payment_methods")


@router.get("/payment_methods/{pm_id}")
async def retrieve(request: Request, pm_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.get_payment_method(emulator(request), pm_id), params)


@router.post("/payment_methods/{pm_id}")
async def update(request: Request, pm_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand", "metadata", "allow_redisplay"})
    emu = emulator(request)
    pm = ops.get_payment_method(emu, pm_id)
    if pm["customer"] is None:
        raise StripeError(
            "You must save this PaymentMethod to a customer before you can update it."
        )
    changes = {}
    if "metadata" in params:
        changes["metadata"] = updated_metadata(pm["metadata"], params["metadata"])
    if params.get("allow_redisplay"):
        changes["allow_redisplay"] = as_enum(
            params["allow_redisplay"], "allow_redisplay", {"always", "limited", "unspecified"}
        )
    emu.update(pm, changes, "payment_method.updated", context(request))
    return respond(request, pm, params)


@router.post("/payment_methods/{pm_id}/attach")
async def attach(request: Request, pm_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"customer", "customer_account", "expand"})
    emu = emulator(request)
    customer = as_str(require(params, "customer"), "customer")
    pm = ops.resolve_payment_method(emu, pm_id, param="payment_method")
    return respond(request, ops.attach(emu, pm, customer, context(request)), params)


@router.post("/payment_methods/{pm_id}/detach")
async def detach(request: Request, pm_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, ops.detach(emulator(request), pm_id, context(request)), params)


@router.get("/customers/{customer_id}/payment_methods")
async def list_for_customer(request: Request, customer_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"allow_redisplay", "type"})
    emu = emulator(request)
    get_customer(emu, customer_id)
    items = ops.customer_payment_methods(emu, customer_id, _type_filter(params))
    url = f"/v1/customers/{customer_id}/payment_methods"
    return respond_list(request, items, params, url)


@router.get("/customers/{customer_id}/payment_methods/{pm_id}")
async def retrieve_for_customer(
    request: Request, customer_id: str, pm_id: str
) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    emu = emulator(request)
    get_customer(emu, customer_id)
    pm = emu.store.payment_methods.get(pm_id)
    if pm is None or pm["customer"] != customer_id:
        raise no_such(emu.store.kind_of(pm_id), pm_id)
    return respond(request, pm, params)
