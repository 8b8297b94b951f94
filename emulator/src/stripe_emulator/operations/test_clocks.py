"""Test clocks: ``/v1/test_helpers/test_clocks`` create, retrieve, list, delete, advance.

A customer created with ``test_clock`` lives at the clock's ``frozen_time``, and so do its
subscriptions and invoices. Advancing is asynchronous, as on Stripe: the call answers the
clock with ``status=advancing`` (``frozen_time`` still the old one,
``status_details.advancing.target_frozen_time`` the new one) and emits
``test_helpers.test_clock.advancing``; then, once the answer is out, everything due up to
the new time happens (:mod:`.renewals`), and the clock becomes ``ready`` at its new
``frozen_time`` (``test_helpers.test_clock.ready``). Poll the clock until it is ready, or
``wait_for_deliveries`` (control API), which waits for advancing clocks first.

A clock moves at most two intervals of its shortest subscription at a time (two years
without subscriptions), as Stripe allows.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.objects.billing import build_test_clock
from stripe_emulator.operations.renewals import run_due
from stripe_emulator.operations.subscription_state import LIVE, interval_of, items_of
from stripe_emulator.params import as_int, opt_str, reject_unknown, require
from stripe_emulator.periods import boundary
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {"expand", "frozen_time", "name"}
ADVANCE_PARAMS = {"expand", "frozen_time"}
LIST_PARAMS = {"created", "ending_before", "expand", "limit", "starting_after"}


def get_clock(emu: Emulator, clock_id: str, param: str | None = None) -> StripeObject:
    clock = emu.store.test_clocks.get(clock_id)
    if clock is None or clock.get("deleted"):
        raise no_such("test_helpers.test_clock", clock_id, param=param)
    return clock


def create_clock(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    frozen = as_int(require(params, "frozen_time"), "frozen_time", minimum=0)
    clock = build_test_clock(
        created=emu.now(),
        frozen_time=frozen,
        name=opt_str(params.get("name"), "name", max_length=300),
    )
    emu.store.add(clock)
    emu.emit("test_helpers.test_clock.created", clock, ctx)
    return clock


def _limit(emu: Emulator, clock: StripeObject) -> int:
    frozen = clock["frozen_time"]
    limits = [
        boundary(frozen, *interval_of(items_of(emu, sub)[0]), 2)
        for sub in emu.store.subscriptions.values()
        if sub["test_clock"] == clock["id"] and sub["status"] in LIVE
    ]
    return min(limits) if limits else boundary(frozen, "year", 1, 2)


def advance_clock(
    emu: Emulator, clock_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    clock = get_clock(emu, clock_id)
    reject_unknown(params, ADVANCE_PARAMS)
    target = as_int(require(params, "frozen_time"), "frozen_time")
    if clock["status"] != "ready":
        raise StripeError(
            f"The test clock {clock_id} is {clock['status']}; it can advance once it is ready.",
            param="frozen_time",
        )
    if target <= clock["frozen_time"]:
        raise invalid_param(
            "frozen_time", "The frozen_time must be after the test clock's current frozen_time."
        )
    limit = _limit(emu, clock)
    if target > limit:
        raise invalid_param(
            "frozen_time",
            "Cannot advance the test clock more than two intervals of its shortest "
            f"subscription (two years without subscriptions) at once: at most to {limit}.",
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    emu.emit("test_helpers.test_clock.advancing", clock, ctx)
    emu.defer(lambda: _advance(emu, clock, target))
    return clock


def _advance(emu: Emulator, clock: StripeObject, target: int) -> None:
    try:
        run_due(emu, clock["id"], target)
    except Exception:
        clock.update(status="internal_failure", status_details={})
        emu.emit("test_helpers.test_clock.internal_failure", clock, AUTOMATIC)
        raise
    clock.update(status="ready", status_details={}, frozen_time=target)
    emu.emit("test_helpers.test_clock.ready", clock, AUTOMATIC)


def delete_clock(emu: Emulator, clock_id: str, ctx: RequestContext) -> StripeObject:
    """Deletes the clock and every customer, subscription and invoice on it."""
    clock = get_clock(emu, clock_id)
    for collection in (emu.store.subscriptions, emu.store.invoices):
        for key in [k for k, v in collection.items() if v.get("test_clock") == clock_id]:
            del collection[key]
    for customer_id, customer in list(emu.store.customers.items()):
        if customer.get("test_clock") == clock_id:
            emu.store.customers[customer_id] = {
                "id": customer_id,
                "object": "customer",
                "deleted": True,
            }
    emu.emit("test_helpers.test_clock.deleted", clock, ctx)
    stub = {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}
    emu.store.test_clocks[clock_id] = stub
    return stub


def list_clocks(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    return [
        c for c in emu.store.test_clocks.values() if not c.get("deleted") and created(c["created"])
    ]
