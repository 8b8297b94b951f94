"""``/v1/events``: retrieve and list, with Stripe's filters."""

from __future__ import annotations

import fnmatch

from fastapi import APIRouter, Request

from stripe_emulator.api.deps import PAGINATION, emulator, read_params, respond, respond_list
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.params import as_bool, as_list, as_str, exclusive, reject_unknown
from stripe_emulator.responses import StripeJSONResponse

router = APIRouter(prefix="/events")


@router.get("")
async def list_(request: Request) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, PAGINATION | {"created", "delivery_success", "type", "types"})
    exclusive(params, "type", "types")
    created = created_matcher(params.get("created"))
    patterns: list[str] | None = None
    if params.get("type"):
        # ``type`` may use a wildcard, e.g. ``checkout.session.*``.
        patterns = [as_str(params["type"], "type")]
    elif "types" in params:
        patterns = [
            as_str(t, f"types[{i}]") for i, t in enumerate(as_list(params["types"], "types"))
        ]
        if len(patterns) > 20:
            raise StripeError("You may pass at most 20 types.", param="types")
    delivered: bool | None = None
    if params.get("delivery_success") not in (None, ""):
        delivered = as_bool(params["delivery_success"], "delivery_success")
    items = [
        e
        for e in emulator(request).store.events.values()
        if created(e["created"])
        and (patterns is None or any(fnmatch.fnmatchcase(e["type"], p) for p in patterns))
        and (delivered is None or (e["pending_webhooks"] == 0) == delivered)
    ]
    return respond_list(request, items, params, "/v1/events")


@router.get("/{event_id}")
async def retrieve(request: Request, event_id: str) -> StripeJSONResponse:
    params = await read_params(request)
    reject_unknown(params, {"expand"})
    event = emulator(request).store.events.get(event_id)
    if event is None:
        raise no_such("event", event_id)
    return respond(request, event, params)
