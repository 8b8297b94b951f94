"""Subscription schedules: "change the plan at the next renewal", as Stripe does it.

Created ``from_subscription`` (one phase: the current price until the end of the current
period), then updated with a second phase (the new price, from the end of the first), a
schedule switches the subscription's price when that period ends: the renewal bills the
new price, with no proration; a price of another interval starts a new billing cycle
there. When its last phase ends (``end_behavior=release``) the schedule is ``released``
and the subscription goes on at its last price. Up to two phases, changing only at the
end of a billing period; ``end_behavior=cancel``, trials and phases in the past are
refused. While a schedule manages a subscription, its cancellation is set on neither (as
on Stripe: release the schedule first).

Events: ``subscription_schedule.created|updated|released|canceled``, and
``customer.subscription.updated`` as the subscription gains or loses its ``schedule``.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.objects.catalog import plan_of
from stripe_emulator.objects.schedule import build_phase, build_schedule
from stripe_emulator.operations.catalog import get_price
from stripe_emulator.operations.subscription_state import (
    emit_updated,
    end_subscription,
    get_subscription,
    interval_of,
    items_of,
    now_for,
    period_of,
)
from stripe_emulator.params import (
    as_dict,
    as_enum,
    as_int,
    as_list,
    as_str,
    refuse_given,
    reject_unknown,
    require,
    updated_metadata,
)
from stripe_emulator.periods import INTERVALS, boundary
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {"billing_mode", "customer", "customer_account", "default_settings",
                 "end_behavior", "expand", "from_subscription", "metadata", "phases",
                 "start_date"}  # fmt: skip
UPDATE_PARAMS = {"default_settings", "end_behavior", "expand", "metadata", "pause_schedules",
                 "phases", "proration_behavior"}  # fmt: skip
LIST_PARAMS = {"canceled_at", "completed_at", "created", "customer", "customer_account",
               "ending_before", "expand", "limit", "released_at", "scheduled",
               "starting_after"}  # fmt: skip
_PHASE_KEYS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_thresholds", "collection_method", "currency", "default_payment_method",
    "default_tax_rates", "description", "discounts", "duration", "end_date", "invoice_settings",
    "items", "metadata", "on_behalf_of", "proration_behavior", "start_date", "transfer_data",
    "trial", "trial_end",
}  # fmt: skip
_PHASE_HANDLED = {"duration", "end_date", "items", "metadata", "proration_behavior", "start_date"}
PRORATIONS = {"always_invoice", "create_prorations", "none"}


def get_schedule(emu: Emulator, schedule_id: str) -> StripeObject:
    schedule = emu.store.subscription_schedules.get(schedule_id)
    if schedule is None:
        raise no_such("subscription_schedule", schedule_id)
    return schedule


def create_schedule(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    if not params.get("from_subscription"):
        raise invalid_param(
            "from_subscription", "The Stripe emulator creates schedules only from_subscription."
        )
    for key in sorted(set(params) - {"from_subscription", "expand"}):
        raise invalid_param(key, f"You cannot set `{key}` together with `from_subscription`.")
    sub = get_subscription(
        emu, as_str(params["from_subscription"], "from_subscription"), "from_subscription"
    )
    if sub["schedule"] is not None:
        raise invalid_param(
            "from_subscription",
            f"You cannot migrate a subscription that is already attached to a schedule: "
            f"`{sub['schedule']}`.",
        )
    if sub["status"] not in ("active", "past_due"):
        raise invalid_param("from_subscription", f"The subscription is {sub['status']}.")
    item = items_of(emu, sub)[0]
    start, end = period_of(emu, sub)
    phase = build_phase(price=item["price"], quantity=item["quantity"], start=start, end=end)
    schedule = build_schedule(
        created=now_for(emu, sub["test_clock"]), subscription=sub, phase=phase
    )
    emu.store.add(schedule)
    emu.store.private[schedule["id"]] = {"phase": 0}
    emu.emit("subscription_schedule.created", schedule, ctx)
    sub["schedule"] = schedule["id"]
    emit_updated(emu, sub, {"schedule": None}, ctx)
    return schedule


def _aligned(sub: StripeObject, item: StripeObject, end: int, param: str) -> int:
    """``end`` must be one of the subscription's period boundaries (no proration)."""
    interval, count = interval_of(item)
    index = 0
    while (moment := boundary(sub["billing_cycle_anchor"], interval, count, index)) < end:
        index += 1
    if moment != end:
        raise invalid_param(
            param, "The Stripe emulator changes phases only at the end of a billing period."
        )
    return end


def _phase_end(raw: dict[str, Any], start: int, p: str, price: StripeObject) -> int:
    if raw.get("duration"):
        duration = as_dict(raw["duration"], f"{p}[duration]")
        reject_unknown(duration, {"interval", "interval_count"}, f"{p}[duration]")
        interval = as_enum(
            require(duration, "interval", f"{p}[duration][interval]"),
            f"{p}[duration][interval]",
            INTERVALS,
        )
        count = as_int(
            duration.get("interval_count", 1), f"{p}[duration][interval_count]", minimum=1
        )
        return boundary(start, interval, count, 1)
    if raw.get("end_date") not in (None, ""):
        end = as_int(raw["end_date"], f"{p}[end_date]")
        if end <= start:
            raise invalid_param(f"{p}[end_date]", "A phase must end after it starts.")
        return end
    recurring = price["recurring"]  # the last phase lasts one period by default
    return boundary(start, recurring["interval"], recurring["interval_count"], 1)


def _phase_price(emu: Emulator, sub: StripeObject, raw: dict[str, Any], p: str) -> tuple[Any, int]:
    items = as_list(require(raw, "items", f"{p}[items]"), f"{p}[items]")
    if len(items) != 1:
        raise invalid_param(f"{p}[items]", "The Stripe emulator supports one item per phase.")
    item = as_dict(items[0], f"{p}[items][0]")
    reject_unknown(
        item,
        {
            "billing_thresholds",
            "discounts",
            "metadata",
            "plan",
            "price",
            "price_data",
            "quantity",
            "tax_rates",
        },
        f"{p}[items][0]",
    )
    price_id = item.get("price") or item.get("plan")
    price = get_price(
        emu,
        as_str(
            require({"price": price_id}, "price", f"{p}[items][0][price]"), f"{p}[items][0][price]"
        ),
        f"{p}[items][0][price]",
    )
    if price["type"] != "recurring" or price["currency"] != sub["currency"]:
        raise invalid_param(
            f"{p}[items][0][price]", "The price must be recurring, in the subscription's currency."
        )
    return price, as_int(item.get("quantity", 1), f"{p}[items][0][quantity]", minimum=1)


def _phases(
    emu: Emulator, schedule: StripeObject, sub: StripeObject, raw: Any, proration: str
) -> list[StripeObject]:
    entries = as_list(raw, "phases")
    if not 1 <= len(entries) <= 2:
        raise invalid_param(
            "phases", "The Stripe emulator supports the current phase and one more."
        )
    item = items_of(emu, sub)[0]
    start = schedule["current_phase"]["start_date"]
    phases: list[StripeObject] = []
    for index, entry in enumerate(entries):
        p = f"phases[{index}]"
        data = as_dict(entry, p)
        reject_unknown(data, _PHASE_KEYS, p)
        refuse_given(data, set(data) - _PHASE_HANDLED, p)
        if (
            data.get("start_date") not in (None, "")
            and as_int(data["start_date"], f"{p}[start_date]") != start
        ):
            raise invalid_param(
                f"{p}[start_date]",
                "Each phase starts where the previous one ends "
                "(the first: at the current phase's start).",
            )
        price, quantity = _phase_price(emu, sub, data, p)
        if index == 0 and (price["id"], quantity) != (item["price"]["id"], item["quantity"]):
            raise invalid_param(
                f"{p}[items]",
                "The current phase keeps the subscription's price (change it in the next phase).",
            )
        end = _phase_end(data, start, p, price)
        if index == 0 or index < len(entries) - 1:
            end = _aligned(sub, item, end, f"{p}[end_date]")
        phases.append(
            build_phase(
                price=price, quantity=quantity, start=start, end=end, proration_behavior=proration
            )
        )
        start = end
    return phases


def update_schedule(
    emu: Emulator, schedule_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    schedule = get_schedule(emu, schedule_id)
    reject_unknown(params, UPDATE_PARAMS)
    if schedule["status"] != "active":
        raise StripeError(
            f"You cannot update a subscription schedule that is {schedule['status']}."
        )
    refuse_given(params, {"default_settings", "pause_schedules"})
    if params.get("end_behavior") not in (None, "", "release"):
        raise invalid_param(
            "end_behavior", "The Stripe emulator supports only end_behavior=release."
        )
    proration = as_enum(
        params.get("proration_behavior") or "create_prorations", "proration_behavior", PRORATIONS
    )
    previous: dict[str, Any] = {}
    if "phases" in params:
        sub = get_subscription(emu, schedule["subscription"])
        if emu.store.private[schedule["id"]]["phase"] != 0:
            raise invalid_param(
                "phases", "The Stripe emulator updates a schedule only in its first phase."
            )
        previous["phases"] = copy.deepcopy(schedule["phases"])
        schedule["phases"] = _phases(emu, schedule, sub, params["phases"], proration)
        schedule["current_phase"]["end_date"] = schedule["phases"][0]["end_date"]
    if "metadata" in params:
        previous["metadata"] = schedule["metadata"]
        schedule["metadata"] = updated_metadata(schedule["metadata"], params["metadata"])
    if previous:
        emu.emit("subscription_schedule.updated", schedule, ctx, previous_attributes=previous)
    return schedule


def _detach(
    emu: Emulator, schedule: StripeObject, status: str, at: int, ctx: RequestContext
) -> None:
    previous = {"status": schedule["status"], "current_phase": schedule["current_phase"]}
    sub = emu.store.subscriptions.get(schedule["subscription"] or "")
    schedule.update(status=status, current_phase=None)
    if status == "released":
        schedule.update(
            released_at=at, released_subscription=schedule["subscription"], subscription=None
        )
    else:
        schedule["canceled_at"] = at
    emu.emit(f"subscription_schedule.{status}", schedule, ctx, previous_attributes=previous)
    if sub is not None and sub["schedule"] == schedule["id"]:
        sub["schedule"] = None
        if status == "released":
            emit_updated(emu, sub, {"schedule": schedule["id"]}, ctx)


def release_schedule(
    emu: Emulator, schedule_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    schedule = get_schedule(emu, schedule_id)
    reject_unknown(params, {"expand", "preserve_cancel_date"})
    if schedule["status"] not in ("active", "not_started"):
        raise StripeError(
            f"You cannot release a subscription schedule that is {schedule['status']}."
        )
    _detach(emu, schedule, "released", now_for(emu, schedule["test_clock"]), ctx)
    return schedule


def cancel_schedule(
    emu: Emulator, schedule_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """Cancels the schedule and, now, its subscription (``customer.subscription.deleted``)."""
    schedule = get_schedule(emu, schedule_id)
    reject_unknown(params, {"expand", "invoice_now", "prorate"})
    refuse_given(params, {"invoice_now", "prorate"})
    if schedule["status"] not in ("active", "not_started"):
        raise StripeError(
            f"You cannot cancel a subscription schedule that is {schedule['status']}."
        )
    now = now_for(emu, schedule["test_clock"])
    sub = emu.store.subscriptions.get(schedule["subscription"] or "")
    _detach(emu, schedule, "canceled", now, ctx)
    if sub is not None and sub["status"] != "canceled":
        end_subscription(emu, sub, at=now, reason="cancellation_requested", ctx=ctx)
    return schedule


def at_period_end(emu: Emulator, sub: StripeObject, end: int) -> bool:
    """A period of a scheduled subscription ends at ``end``: enter the next phase (its price
    on the item) or release the schedule. True when the billing cycle restarts at ``end``."""
    schedule = emu.store.subscription_schedules.get(sub["schedule"] or "")
    if schedule is None or schedule["status"] != "active":
        return False
    state = emu.store.private[schedule["id"]]
    if schedule["phases"][state["phase"]]["end_date"] > end:
        return False
    if state["phase"] + 1 >= len(schedule["phases"]):
        _detach(emu, schedule, "released", end, AUTOMATIC)
        return False
    state["phase"] += 1
    phase = schedule["phases"][state["phase"]]
    item = items_of(emu, sub)[0]
    before = interval_of(item)
    price = emu.store.prices[phase["items"][0]["price"]]
    item.update(
        price=copy.deepcopy(price), plan=plan_of(price), quantity=phase["items"][0]["quantity"]
    )
    previous = {"current_phase": dict(schedule["current_phase"])}
    schedule["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}
    emu.emit("subscription_schedule.updated", schedule, AUTOMATIC, previous_attributes=previous)
    return interval_of(item) != before


def list_schedules(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    return [
        s
        for s in emu.store.subscription_schedules.values()
        if created(s["created"])
        and ("customer" not in params or s["customer"] == params["customer"])
    ]
