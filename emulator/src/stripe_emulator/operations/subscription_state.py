"""A subscription's state: its items, its current period, its status and its clock.

Subscription items are kept in ``store.subscription_items``; the subscription's
``items.data`` is a copy rebuilt by :func:`sync_items` after every change, so that events
and responses always show the items as they are. A subscription on a test clock lives at
that clock's ``frozen_time``; any other one at the emulator's clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import no_such
from stripe_emulator.periods import boundary
from stripe_emulator.store import StripeObject

# Statuses in which a subscription still bills (and renews at the end of its period).
LIVE = {"active", "past_due", "incomplete", "trialing", "unpaid", "paused"}


# While billing catches up with time for objects on no clock, the time each action fell
# due, so that what it creates is dated then (as a test clock's frozen_time does).
_catching_up: ContextVar[int | None] = ContextVar("catching_up", default=None)


def now_for(emu: Emulator, test_clock: str | None) -> int:
    """The time an object on ``test_clock`` (or on none) lives at."""
    clock = emu.store.test_clocks.get(test_clock or "")
    if clock is not None:
        return int(clock["frozen_time"])
    due = _catching_up.get()
    return due if due is not None else emu.now()


@contextmanager
def unclocked_time(at: int) -> Iterator[None]:
    """Objects on no test clock live at ``at`` for the duration (an action that fell due)."""
    token = _catching_up.set(at)
    try:
        yield
    finally:
        _catching_up.reset(token)


def get_subscription(emu: Emulator, sub_id: str, param: str | None = None) -> StripeObject:
    sub = emu.store.subscriptions.get(sub_id)
    if sub is None:
        raise no_such("subscription", sub_id, param=param)
    return sub


def items_of(emu: Emulator, sub: StripeObject) -> list[StripeObject]:
    ids = emu.store.private[sub["id"]]["items"]
    return [emu.store.subscription_items[item_id] for item_id in ids]


def sync_items(emu: Emulator, sub: StripeObject) -> None:
    sub["items"]["data"] = [copy.deepcopy(item) for item in items_of(emu, sub)]


def period_of(emu: Emulator, sub: StripeObject) -> tuple[int, int]:
    """The current period (every item shares it: one price, one interval)."""
    item = items_of(emu, sub)[0]
    return item["current_period_start"], item["current_period_end"]


def interval_of(item: StripeObject) -> tuple[str, int]:
    recurring = item["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def period_bounds(sub: StripeObject, item: StripeObject, index: int) -> tuple[int, int]:
    """The ``index``-th period counted from the subscription's billing cycle anchor."""
    interval, count = interval_of(item)
    anchor = sub["billing_cycle_anchor"]
    return boundary(anchor, interval, count, index), boundary(anchor, interval, count, index + 1)


def set_period(emu: Emulator, sub: StripeObject, index: int) -> None:
    emu.store.private[sub["id"]]["period_index"] = index
    for item in items_of(emu, sub):
        item["current_period_start"], item["current_period_end"] = period_bounds(sub, item, index)
    sync_items(emu, sub)


def emit_updated(
    emu: Emulator,
    sub: StripeObject,
    previous: dict[str, Any],
    ctx: RequestContext = AUTOMATIC,
) -> None:
    """``customer.subscription.updated`` with the changed fields' previous values."""
    sync_items(emu, sub)
    if previous:
        emu.emit("customer.subscription.updated", sub, ctx, previous_attributes=previous)


def set_status(
    emu: Emulator, sub: StripeObject, status: str, ctx: RequestContext = AUTOMATIC
) -> None:
    if sub["status"] == status:
        return
    previous = {"status": sub["status"]}
    sub["status"] = status
    emit_updated(emu, sub, previous, ctx)


def end_subscription(
    emu: Emulator,
    sub: StripeObject,
    *,
    at: int,
    reason: str,
    ctx: RequestContext = AUTOMATIC,
) -> StripeObject:
    """The subscription ends now: ``canceled``, ``customer.subscription.deleted``."""
    sub["status"] = "canceled"
    sub["ended_at"] = at
    if sub["canceled_at"] is None:
        sub["canceled_at"] = at
    if sub["cancellation_details"]["reason"] is None:
        sub["cancellation_details"]["reason"] = reason
    sync_items(emu, sub)
    emu.emit("customer.subscription.deleted", sub, ctx)
    return sub
