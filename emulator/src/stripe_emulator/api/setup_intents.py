"""``/v1/setup_intents`` (read-only: Checkout's setup mode creates them)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import PAGINATION, emulator, read_params, respond, respond_list
from stripe_emulator.errors import no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/setup_intents")


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(
        params, PAGINATION | {"attach_to_self", "created", "customer", "customer_account",
                              "payment_method"}
    )  # fmt: skip
    created = created_matcher(params.get("created"))
    customer, pm = params.get("customer"), params.get("payment_method")
    items = [
        si
        for si in emulator(request).store.setup_intents.values()
        if created(si["created"])
        and (customer is None or si["customer"] == customer)
        and (pm is None or si["payment_method"] == pm)
    ]
    return respond_list(request, items, params, "/v1/setup_intents")


@router.get("/{setup_intent_id}")
async def retrieve(request: Request, setup_intent_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand", "client_secret"})
    emu = emulator(request)
    si = emu.store.setup_intents.get(setup_intent_id)
    if si is None:
        raise no_such(emu.store.kind_of(setup_intent_id), setup_intent_id)
    return respond(request, si, params)
