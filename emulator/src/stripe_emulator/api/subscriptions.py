"""``/v1/subscriptions`` and ``/v1/subscription_items`` (Checkout creates subscriptions).

Reads first bring subscriptions on no test clock up to the emulator's time (renewals due
while nobody looked), as the background sweep does.
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
from stripe_emulator.errors import missing_param, no_such
from stripe_emulator.operations import subscriptions as ops
from stripe_emulator.operations.renewals import run_due_unclocked
from stripe_emulator.operations.subscription_state import get_subscription, items_of
from stripe_emulator.params import as_str, reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter()


@router.get("/subscriptions")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    emu = emulator(request)
    run_due_unclocked(emu)
    items = ops.list_subscriptions(emu, params)
    return respond_list(request, items, params, "/v1/subscriptions")


@router.get("/subscriptions/{sub_id}")
async def retrieve(request: Request, sub_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    emu = emulator(request)
    run_due_unclocked(emu)
    return respond(request, get_subscription(emu, sub_id), params)


@router.post("/subscriptions/{sub_id}")
async def update(request: Request, sub_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    emu = emulator(request)
    run_due_unclocked(emu)
    return respond(request, ops.update_subscription(emu, sub_id, params, context(request)), params)


@router.delete("/subscriptions/{sub_id}")
async def cancel(request: Request, sub_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    emu = emulator(request)
    run_due_unclocked(emu)
    return respond(request, ops.cancel_subscription(emu, sub_id, params, context(request)), params)


@router.get("/subscription_items")
async def list_items(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"subscription"})
    if not params.get("subscription"):
        raise missing_param("subscription")
    emu = emulator(request)
    sub = get_subscription(emu, as_str(params["subscription"], "subscription"), "subscription")
    url = f"/v1/subscription_items?subscription={sub['id']}"
    return respond_list(request, items_of(emu, sub), params, url, oldest_first=True)


@router.get("/subscription_items/{item_id}")
async def retrieve_item(request: Request, item_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    item = emulator(request).store.subscription_items.get(item_id)
    if item is None:
        raise no_such("subscription_item", item_id)
    return respond(request, item, params)
