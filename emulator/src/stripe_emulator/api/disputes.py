"""``/v1/disputes``: list, retrieve, update (evidence) and close (accept).

Disputes are opened by the bank: through the control API, or by paying with
4000 0000 0000 0259.
"""

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
from stripe_emulator.operations.disputes import accept_dispute, get_dispute, update_dispute
from stripe_emulator.params import reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/disputes")


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"charge", "created", "payment_intent"})
    created = created_matcher(params.get("created"))
    charge = params.get("charge")
    pi = params.get("payment_intent")
    items = [
        d
        for d in emulator(request).store.disputes.values()
        if created(d["created"])
        and (charge is None or d["charge"] == charge)
        and (pi is None or d["payment_intent"] == pi)
    ]
    return respond_list(request, items, params, "/v1/disputes")


@router.get("/{dispute_id}")
async def retrieve(request: Request, dispute_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, get_dispute(emulator(request), dispute_id), params)


@router.post("/{dispute_id}")
async def update(request: Request, dispute_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    dispute = update_dispute(emulator(request), dispute_id, params, context(request))
    return respond(request, dispute, params)


@router.post("/{dispute_id}/close")
async def close(request: Request, dispute_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    return respond(request, accept_dispute(emulator(request), dispute_id, context(request)), params)
