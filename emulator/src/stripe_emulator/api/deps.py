"""What every Stripe API handler needs from its request."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.expand import expand
from stripe_emulator.forms import decode_form, decode_pairs
from stripe_emulator.lists import paginate
from stripe_emulator.params import as_expand
from stripe_emulator.responses import StripeJSONResponse
from stripe_emulator.store import StripeObject

# Parameters every list endpoint accepts besides its own filters.
PAGINATION = {"limit", "starting_after", "ending_before", "expand"}


def emulator(request: Request) -> Emulator:
    return request.app.state.emulator


def context(request: Request) -> RequestContext:
    return getattr(request.state, "stripe", AUTOMATIC)


async def read_params(request: Request) -> dict[str, Any]:
    """Query string plus form body, decoded into nested values."""
    params = decode_pairs(request.query_params.multi_items())
    if request.method in ("POST", "DELETE"):
        body = await request.body()
        if body:
            params.update(decode_form(body))
    return params


def respond(request: Request, obj: StripeObject, params: dict[str, Any]) -> StripeJSONResponse:
    return StripeJSONResponse(expand(emulator(request).store, obj, as_expand(params)))


def respond_list(
    request: Request,
    items: list[StripeObject],
    params: dict[str, Any],
    url: str,
    *,
    oldest_first: bool = False,
) -> StripeJSONResponse:
    store = emulator(request).store
    page = paginate(store, items, params, url, oldest_first=oldest_first)
    return StripeJSONResponse(expand(store, page, as_expand(params)))
