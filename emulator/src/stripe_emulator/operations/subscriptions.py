"""Subscriptions: started by Checkout, updated, canceled, listed.

One item (one recurring price) per subscription, billed in advance, no trials, no
proration: a price change takes ``proration_behavior=none`` (the new price is billed from
the next renewal; other proration behaviors are refused rather than computed). Changing to
a price with another interval resets the billing cycle anchor to now and bills the new
price at once (``billing_reason=subscription_update``), as Stripe does.
``cancel_at_period_end=true`` sets ``cancel_at`` to the end of the current period
(``canceled_at`` is when it was asked); the subscription ends when that time comes.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.objects.catalog import plan_of
from stripe_emulator.objects.subscription import build_subscription, build_subscription_item
from stripe_emulator.operations.catalog import get_price
from stripe_emulator.operations.invoices import attempt_payment, create_invoice, finalize_invoice
from stripe_emulator.operations.subscription_state import (
    emit_updated,
    end_subscription,
    get_subscription,
    interval_of,
    items_of,
    now_for,
    period_of,
    set_period,
    sync_items,
)
from stripe_emulator.params import (
    as_bool,
    as_dict,
    as_enum,
    as_int,
    as_list,
    as_str,
    opt_str,
    refuse_given,
    reject_unknown,
    updated_metadata,
)
from stripe_emulator.store import StripeObject

UPDATE_PARAMS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_schedules", "billing_thresholds", "cancel_at", "cancel_at_period_end",
    "cancellation_details", "collection_method", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "expand",
    "invoice_settings", "items", "metadata", "off_session", "on_behalf_of", "pause_collection",
    "payment_behavior", "payment_settings", "pending_invoice_item_interval",
    "proration_behavior", "proration_date", "transfer_data", "trial_end", "trial_from_plan",
    "trial_settings",
}  # fmt: skip
# Acted on; every other known parameter is refused when given a value.
_HANDLED = {"billing_cycle_anchor", "cancel_at", "cancel_at_period_end", "cancellation_details",
            "default_payment_method", "description", "expand", "items", "metadata",
            "off_session", "payment_behavior", "proration_behavior"}  # fmt: skip
_ITEM_KEYS = {"billing_thresholds", "deleted", "discounts", "id", "metadata", "price",
              "price_data", "quantity", "tax_rates"}  # fmt: skip
CANCEL_PARAMS = {"cancellation_details", "expand", "invoice_now", "prorate"}
LIST_PARAMS = {
    "automatic_tax", "collection_method", "created", "current_period_end",
    "current_period_start", "customer", "customer_account", "ending_before", "expand", "limit",
    "plan", "price", "starting_after", "status", "test_clock",
}  # fmt: skip
STATUSES = {"active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
            "past_due", "paused", "trialing", "unpaid"}  # fmt: skip
FEEDBACK = {"customer_service", "low_quality", "missing_features", "other", "switched_service",
            "too_complex", "too_expensive", "unused"}  # fmt: skip


def start_subscription(
    emu: Emulator,
    *,
    customer: StripeObject,
    price: StripeObject,
    quantity: int,
    payment_method: StripeObject,
    metadata: dict[str, str],
    description: str | None = None,
) -> StripeObject:
    """A new subscription, its first invoice finalized and charged at once.

    ``customer.subscription.created`` (``incomplete``), then the invoice's events, then
    ``customer.subscription.updated`` to ``active`` once it is paid.
    """
    now = now_for(emu, customer["test_clock"])
    sub = build_subscription(
        created=now,
        customer=customer["id"],
        currency=price["currency"],
        anchor=now,
        test_clock=customer["test_clock"],
        default_payment_method=payment_method["id"],
        metadata=metadata,
        description=description,
    )
    emu.store.add(sub)
    item = build_subscription_item(
        created=now, subscription_id=sub["id"], price=price, quantity=quantity, start=now, end=now
    )
    emu.store.add(item)
    emu.store.private[sub["id"]] = {"items": [item["id"]], "period_index": 0}
    set_period(emu, sub, 0)
    invoice = create_invoice(emu, sub, reason="subscription_create", period=period_of(emu, sub))
    sub["latest_invoice"] = invoice["id"]
    sync_items(emu, sub)
    emu.emit("customer.subscription.created", sub)
    finalize_invoice(emu, invoice)
    error = attempt_payment(emu, invoice, payment_method=payment_method, on_page=True)
    # Checkout refuses a card that would be declined before it gets here.
    assert error is None, error
    return sub


def _price_change(
    emu: Emulator, sub: StripeObject, raw_items: Any, proration: str | None
) -> tuple[StripeObject, int] | None:
    """``items[0][price]`` / ``[quantity]`` checked: the new (price, quantity), or None when
    they change nothing. Changes nothing itself."""
    entries = as_list(raw_items, "items")
    current = items_of(emu, sub)
    if len(entries) != 1:
        raise invalid_param("items", "The Stripe emulator supports one item per subscription.")
    entry = as_dict(entries[0], "items[0]")
    reject_unknown(entry, _ITEM_KEYS, "items[0]")
    refuse_given(
        entry, {"deleted", "price_data", "discounts", "tax_rates", "billing_thresholds"}, "items[0]"
    )
    item = current[0]
    if entry.get("id") not in (None, item["id"]):
        raise invalid_param("items[0][id]", "Adding items is not supported by the emulator.")
    old_price = item["price"]
    price = item["price"]
    if entry.get("price"):
        price = get_price(emu, as_str(entry["price"], "items[0][price]"), "items[0][price]")
        if price["type"] != "recurring":
            raise invalid_param("items[0][price]", "The price specified is not recurring.")
        if price["currency"] != sub["currency"]:
            raise invalid_param("items[0][price]", "The price's currency must match.")
        if not price["active"]:
            raise invalid_param("items[0][price]", "The price specified is inactive.")
    quantity = item["quantity"]
    if "quantity" in entry:
        quantity = as_int(entry["quantity"], "items[0][quantity]", minimum=1)
    if price["id"] == old_price["id"] and quantity == item["quantity"]:
        return None
    if proration != "none":
        raise invalid_param(
            "proration_behavior",
            "The Stripe emulator does not compute prorations: pass proration_behavior=none "
            "(the new price is billed from the next renewal).",
        )
    return price, quantity


def _cancel_at(emu: Emulator, sub: StripeObject, raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    end = period_of(emu, sub)[1]
    if raw in ("max_period_end", "min_period_end"):
        return end
    if as_int(raw, "cancel_at") != end:
        raise invalid_param(
            "cancel_at",
            "The Stripe emulator cancels only at the end of the current period "
            "(cancel_at=max_period_end, or cancel_at_period_end=true).",
        )
    return end


def update_subscription(
    emu: Emulator, sub_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    sub = get_subscription(emu, sub_id)
    reject_unknown(params, UPDATE_PARAMS)
    refuse_given(params, set(params) - _HANDLED)
    if sub["status"] in ("canceled", "incomplete_expired") and set(params) - {
        "metadata",
        "cancellation_details",
        "expand",
    }:
        raise StripeError(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    if params.get("billing_cycle_anchor") not in (None, "", "unchanged"):
        raise invalid_param("billing_cycle_anchor", "Only billing_cycle_anchor=unchanged.")
    if params.get("payment_behavior") not in (None, "", "allow_incomplete"):
        raise invalid_param("payment_behavior", "Only payment_behavior=allow_incomplete.")
    proration = params.get("proration_behavior")
    if proration not in (None, ""):
        proration = as_enum(proration, "proration_behavior",
                            {"always_invoice", "create_prorations", "none"})  # fmt: skip
    old = {k: sub[k] for k in ("cancel_at", "cancel_at_period_end", "canceled_at",
                               "cancellation_details", "default_payment_method", "description",
                               "metadata")}  # fmt: skip
    old_items = [dict(i) for i in sub["items"]["data"]]
    now = now_for(emu, sub["test_clock"])
    details = dict(sub["cancellation_details"])
    if "cancellation_details" in params:
        data = as_dict(params["cancellation_details"], "cancellation_details")
        reject_unknown(data, {"comment", "feedback"}, "cancellation_details")
        if "comment" in data:
            details["comment"] = opt_str(data["comment"], "cancellation_details[comment]")
        if data.get("feedback"):
            details["feedback"] = as_enum(data["feedback"], "cancellation_details[feedback]",
                                          FEEDBACK)  # fmt: skip
    cancel_at = sub["cancel_at"]
    if sub["schedule"] and ({"cancel_at", "cancel_at_period_end"} & params.keys()):
        raise StripeError(
            f"The subscription is managed by the subscription schedule `{sub['schedule']}`, and "
            "updating any cancelation behavior directly is not allowed. Please update the "
            "schedule instead."
        )
    if "cancel_at_period_end" in params:
        at_end = as_bool(params["cancel_at_period_end"], "cancel_at_period_end")
        cancel_at = period_of(emu, sub)[1] if at_end else None
    elif "cancel_at" in params:
        cancel_at = _cancel_at(emu, sub, params["cancel_at"])
    pm_id = None
    if "default_payment_method" in params:
        pm_id = as_str(params["default_payment_method"], "default_payment_method")
        pm = emu.store.payment_methods.get(pm_id)
        if pm is None or pm.get("customer") != sub["customer"]:
            raise no_such("payment_method", pm_id, param="default_payment_method")
    description = sub["description"]
    if "description" in params:
        description = opt_str(params["description"], "description", max_length=500)
    metadata = sub["metadata"]
    if "metadata" in params:
        metadata = updated_metadata(sub["metadata"], params["metadata"])
    change = _price_change(emu, sub, params["items"], proration) if "items" in params else None
    # Everything checked: from here on the update is applied, whole.
    if cancel_at != sub["cancel_at"]:
        sub["cancel_at"] = cancel_at
        sub["cancel_at_period_end"] = cancel_at is not None
        sub["canceled_at"] = now if cancel_at is not None else None
        details["reason"] = "cancellation_requested" if cancel_at is not None else None
    sub["cancellation_details"] = details
    if pm_id is not None:
        sub["default_payment_method"] = pm_id
    sub.update(description=description, metadata=metadata)
    previous = {k: v for k, v in old.items() if sub[k] != v}
    interval_changed = False
    if change is not None:
        item = items_of(emu, sub)[0]
        before = interval_of(item)
        price, quantity = change
        item.update(price=copy.deepcopy(price), plan=plan_of(price), quantity=quantity)
        interval_changed = interval_of(item) != before
        previous["items"] = {"data": old_items}
    if interval_changed:
        _restart_billing(emu, sub, now, previous)
    else:
        emit_updated(emu, sub, previous, ctx)
    return sub


def _restart_billing(emu: Emulator, sub: StripeObject, now: int, previous: dict[str, Any]) -> None:
    """A new interval: the anchor moves to now and the new period is billed at once."""
    previous.update(billing_cycle_anchor=sub["billing_cycle_anchor"],
                    latest_invoice=sub["latest_invoice"])  # fmt: skip
    sub["billing_cycle_anchor"] = now
    set_period(emu, sub, 0)
    invoice = create_invoice(emu, sub, reason="subscription_update", period=period_of(emu, sub))
    sub["latest_invoice"] = invoice["id"]
    emit_updated(emu, sub, previous)
    finalize_invoice(emu, invoice)
    attempt_payment(emu, invoice)


def cancel_subscription(
    emu: Emulator, sub_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """``DELETE /v1/subscriptions/{id}``: ends now, no proration, no final invoice."""
    sub = get_subscription(emu, sub_id)
    reject_unknown(params, CANCEL_PARAMS)
    refuse_given(params, {"invoice_now", "prorate"})
    if sub["status"] == "canceled":
        raise StripeError("This subscription has already been canceled.", status=404,
                          code="resource_missing", param="id")  # fmt: skip
    if "cancellation_details" in params:
        data = as_dict(params["cancellation_details"], "cancellation_details")
        reject_unknown(data, {"comment", "feedback"}, "cancellation_details")
        sub["cancellation_details"]["comment"] = opt_str(data.get("comment"), "comment")
        if data.get("feedback"):
            sub["cancellation_details"]["feedback"] = as_enum(
                data["feedback"], "cancellation_details[feedback]", FEEDBACK
            )
    now = now_for(emu, sub["test_clock"])
    sub["canceled_at"] = now
    sub["cancellation_details"]["reason"] = "cancellation_requested"
    return end_subscription(emu, sub, at=now, reason="cancellation_requested", ctx=ctx)


def list_subscriptions(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    status = as_enum(params.get("status", "default"), "status", STATUSES | {"default"})

    def status_matches(sub: StripeObject) -> bool:
        if status == "default":  # Stripe leaves out canceled subscriptions unless asked
            return sub["status"] not in ("canceled", "incomplete_expired")
        if status == "ended":
            return sub["status"] in ("canceled", "incomplete_expired")
        return status == "all" or sub["status"] == status

    price = params.get("price") or params.get("plan")
    return [
        s
        for s in emu.store.subscriptions.values()
        if created(s["created"])
        and status_matches(s)
        and ("customer" not in params or s["customer"] == params["customer"])
        and ("test_clock" not in params or s["test_clock"] == params["test_clock"])
        and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
    ]
