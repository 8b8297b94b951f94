"""Stripe list objects: filters on ``created`` and cursor pagination.

``{"object": "list", "data": [...], "has_more": bool, "url": "/v1/..."}``, newest
first (line items: in the order given), with ``limit`` (1-100, default 10),
``starting_after`` (the objects after the cursor, i.e. older) and ``ending_before``
(the ones before it, i.e. newer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stripe_emulator.errors import no_such
from stripe_emulator.params import as_dict, as_int, as_str, exclusive, reject_unknown
from stripe_emulator.store import Store, StripeObject

_RANGE_KEYS = ("gt", "gte", "lt", "lte")


def created_matcher(value: Any, param: str = "created") -> Callable[[int], bool]:
    """``created=123`` or ``created[gte]=...&created[lt]=...``."""
    if value is None:
        return lambda _ts: True
    if not isinstance(value, dict):
        exact = as_int(value, param)
        return lambda ts: ts == exact
    bounds = as_dict(value, param)
    reject_unknown(bounds, _RANGE_KEYS, param)
    limits = {k: as_int(v, f"{param}[{k}]") for k, v in bounds.items()}

    def match(ts: int) -> bool:
        return (
            ("gt" not in limits or ts > limits["gt"])
            and ("gte" not in limits or ts >= limits["gte"])
            and ("lt" not in limits or ts < limits["lt"])
            and ("lte" not in limits or ts <= limits["lte"])
        )

    return match


def list_object(data: list[StripeObject], url: str, has_more: bool = False) -> StripeObject:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def paginate(
    store: Store,
    items: Iterable[StripeObject],
    params: Mapping[str, Any],
    url: str,
    *,
    oldest_first: bool = False,
) -> StripeObject:
    limit = as_int(params.get("limit", 10), "limit", minimum=1, maximum=100)
    exclusive(params, "ending_before", "starting_after")
    sign = 1 if oldest_first else -1

    def position(object_id: str) -> int:
        return sign * (store.order(object_id) or 0)

    ordered = sorted(items, key=lambda o: position(o["id"]))
    starting_after = params.get("starting_after")
    ending_before = params.get("ending_before")
    if starting_after:
        cursor = sign * _cursor(store, as_str(starting_after, "starting_after"), "starting_after")
        after = [o for o in ordered if position(o["id"]) > cursor]
        return list_object(after[:limit], url, has_more=len(after) > limit)
    if ending_before:
        cursor = sign * _cursor(store, as_str(ending_before, "ending_before"), "ending_before")
        before = [o for o in ordered if position(o["id"]) < cursor]
        # The page adjacent to the cursor: the last ``limit`` objects before it.
        return list_object(before[-limit:], url, has_more=len(before) > limit)
    return list_object(ordered[:limit], url, has_more=len(ordered) > limit)


def _cursor(store: Store, object_id: str, param: str) -> int:
    position = store.order(object_id)
    if position is None:
        raise no_such(store.kind_of(object_id), object_id, param=param)
    return position
