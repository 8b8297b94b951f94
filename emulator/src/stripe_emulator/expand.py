"""``expand[]``: replacing an id field by the object it names.

Paths are dotted (``payment_intent.latest_charge``); on list responses they start
with ``data.``. A path that cannot be expanded is refused as Stripe refuses it.
``line_items`` on a Checkout Session is not an id field but an "includable" list,
present only when expanded; so are a session's ``total_details.breakdown`` and a line
item's ``discounts``. The coupons in a session's ``discounts`` array expand too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.lists import list_object
from stripe_emulator.operations.discounts import breakdown, line_item_discounts
from stripe_emulator.store import Store, StripeObject

# Which fields of which object types hold an expandable id.
_ID_FIELDS: dict[str, set[str]] = {
    "checkout.session": {"customer", "invoice", "payment_intent", "setup_intent", "subscription"},
    "setup_intent": {"customer", "payment_method"},
    "payment_method": {"customer"},
    "coupon": set(),
    "payment_intent": {"customer", "latest_charge", "payment_method"},
    "charge": {"customer", "payment_intent", "payment_method"},
    "refund": {"charge", "payment_intent"},
    "dispute": {"charge", "payment_intent"},
    "customer": set(),
    "event": set(),
    "product": {"default_price"},
    "price": {"product"},
    "subscription": {
        "customer",
        "default_payment_method",
        "latest_invoice",
        "schedule",
        "test_clock",
    },
    "subscription_schedule": {"customer", "subscription", "test_clock"},
    "subscription_item": set(),
    "invoice": {"customer", "default_payment_method", "test_clock"},
    "line_item": set(),
    "invoice_payment": {"invoice"},
    "test_helpers.test_clock": set(),
    "billing_portal.session": {"customer"},
}
# Id fields inside a hash of an object: (object type, hash) -> fields.
_HASH_ID_FIELDS: dict[tuple[str, str], set[str]] = {
    ("invoice_payment", "payment"): {"charge", "payment_intent"},
}


def _session_line_items(store: Store, session: StripeObject) -> StripeObject:
    items = store.line_items.get(session["id"], [])
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return list_object(copy.deepcopy(items[:10]), url, has_more=len(items) > 10)


def _total_details(store: Store, session: StripeObject) -> Any:
    # Only "total_details.breakdown" is includable; the rest of total_details is there.
    details = session.get("total_details")
    if details is None:
        return None
    return {**details, "breakdown": breakdown(store, session)}


def _invoice_payments(store: Store, invoice: StripeObject) -> StripeObject:
    payments = [p for p in store.invoice_payments.values() if p["invoice"] == invoice["id"]]
    url = f"/v1/invoices/{invoice['id']}/payments"
    return list_object(copy.deepcopy(payments[:10]), url, has_more=len(payments) > 10)


def _confirmation_secret(store: Store, invoice: StripeObject) -> StripeObject | None:
    """What a Payment Element needs to pay the invoice: its PaymentIntent's secret."""
    payments = [p for p in store.invoice_payments.values() if p["invoice"] == invoice["id"]]
    pi = store.payment_intents.get(payments[-1]["payment"]["payment_intent"]) if payments else None
    if pi is None or invoice["status"] != "open":
        return None
    return {"client_secret": pi["client_secret"], "type": "payment_intent"}


_INCLUDABLE: dict[tuple[str, str], Callable[[Store, StripeObject], Any]] = {
    ("checkout.session", "line_items"): _session_line_items,
    ("checkout.session", "total_details"): _total_details,
    ("item", "discounts"): line_item_discounts,
    ("invoice", "payments"): _invoice_payments,
    ("invoice", "confirmation_secret"): _confirmation_secret,
}
# Arrays of plain hashes whose id fields expand: (object type, field) -> their id fields.
_ID_LISTS: dict[tuple[str, str], set[str]] = {
    ("checkout.session", "discounts"): {"coupon", "promotion_code"},
}


def _cannot(path: str) -> StripeError:
    return StripeError(f"This property cannot be expanded ({path}).", param="expand")


def _expand_one(store: Store, obj: Any, parts: list[str], path: str) -> None:
    if not isinstance(obj, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if obj.get("object") == "list" and head == "data":
        for item in obj["data"]:
            _expand_one(store, item, rest, path)
        return
    kind = obj.get("object", "")
    includable = _INCLUDABLE.get((kind, head))
    id_list = _ID_LISTS.get((kind, head))
    if id_list is not None:
        for entry in obj.get(head) or []:
            _expand_entry(store, entry, rest, id_list, path)
        return
    if includable is not None:
        if head == "total_details" and rest[:1] != ["breakdown"]:
            raise _cannot(path)
        obj[head] = includable(store, obj)
        rest = rest[1:] if head == "total_details" else rest
    elif head in _ID_FIELDS.get(kind, set()):
        value = obj.get(head)
        if isinstance(value, str):
            target = store.find(value)
            obj[head] = copy.deepcopy(target) if target is not None else value
    elif rest and (kind, head) in _HASH_ID_FIELDS and isinstance(obj.get(head), dict):
        _expand_entry(store, obj[head], rest, _HASH_ID_FIELDS[(kind, head)], path)
        return
    else:
        raise _cannot(path)
    _expand_one(store, obj[head], rest, path)


def _expand_entry(store: Store, entry: Any, parts: list[str], fields: set[str], path: str) -> None:
    if not parts or parts[0] not in fields:
        raise _cannot(path)
    value = entry.get(parts[0]) if isinstance(entry, dict) else None
    if isinstance(value, str):
        target = store.find(value)
        entry[parts[0]] = copy.deepcopy(target) if target is not None else value
    _expand_one(store, entry.get(parts[0]), parts[1:], path)


def expand(store: Store, obj: StripeObject, paths: list[str]) -> StripeObject:
    """A copy of ``obj`` with ``paths`` expanded (the stored object is untouched)."""
    result = copy.deepcopy(obj)
    for path in paths:
        if path.count(".") > 3:
            raise _cannot(path)
        _expand_one(store, result, path.split("."), path)
    return result
