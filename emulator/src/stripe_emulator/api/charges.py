"""``/v1/charges`` (read-only: Checkout creates them)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import PAGINATION, emulator, read_params, respond, respond_list
from stripe_emulator.errors import no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.operations.refunds import run_due_refunds
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/charges")


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"created", "customer", "payment_intent", "transfer_group"})
    created = created_matcher(params.get("created"))
    customer = params.get("customer")
    pi = params.get("payment_intent")
    run_due_refunds(emulator(request))
    items = [
        ch
        for ch in emulator(request).store.charges.values()
        if created(ch["created"])
        and (customer is None or ch["customer"] == customer)
        and (pi is None or ch["payment_intent"] == pi)
    ]
    return respond_list(request, items, params, "/v1/charges")


@router.get("/{charge_id}")
async def retrieve(request: Request, charge_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    run_due_refunds(emulator(request))
    charge = emulator(request).store.charges.get(charge_id)
    if charge is None:
        raise no_such("charge", charge_id)
    return respond(request, charge, params)
