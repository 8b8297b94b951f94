"""Subscription schedules: a plan change at the next renewal, the way Stripe does it (and
the only way when the new plan bills another interval), in-process through the SDK."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billing_support import DAY, START, Billing, billing, types

__all__ = ["billing"]

FEB_4, MAR_4, APR_4 = 1_801_731_600, 1_804_150_800, 1_806_829_200
FEB_4_2028 = 1_833_267_600
HOUR = 3600


async def _schedule_change(billing: Billing, sub: Any, price: Any, **next_phase: Any) -> Any:
    """What a product does: a schedule from the subscription, the new price as phase two."""
    schedule = await billing.client.v1.subscription_schedules.create_async(
        params={"from_subscription": sub.id}
    )
    current = schedule.phases[0]
    return await billing.client.v1.subscription_schedules.update_async(
        schedule.id,
        params={
            "phases": [
                {
                    "items": [{"price": current["items"][0]["price"], "quantity": 1}],
                    "start_date": current.start_date,
                    "end_date": current.end_date,
                },
                {"items": [{"price": price.id, "quantity": 1}], **next_phase},
            ],
            "end_behavior": "release",
            "proration_behavior": "none",
        },
    )


async def test_a_yearly_plan_starts_at_the_next_renewal(billing: Billing) -> None:
    sub = await billing.subscribe()
    yearly = await billing.new_price(15000, "year")
    schedule = await _schedule_change(billing, sub, yearly)
    assert (schedule.status, schedule.subscription) == ("active", sub.id)
    assert (schedule.current_phase.start_date, schedule.current_phase.end_date) == (START, FEB_4)
    assert [p.start_date for p in schedule.phases] == [START, FEB_4]
    assert schedule.phases[1].end_date == FEB_4_2028  # one period of the new price
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert (sub.schedule, sub.items.data[0].price.id) == (schedule.id, billing.price.id)
    await billing.new_events()

    await billing.advance_to(FEB_4 + HOUR + 1)
    events = await billing.new_events()
    assert "subscription_schedule.updated" in types(events)
    (paid,) = [e.data.object for e in events if e.type == "invoice.paid"]
    line = paid.lines.data[0]
    assert (paid.billing_reason, paid.amount_paid) == ("subscription_cycle", 15000)
    assert (line.period.start, line.period.end) == (FEB_4, FEB_4_2028)
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.billing_cycle_anchor == FEB_4
    assert sub.items.data[0].price.id == yearly.id

    # The last phase over, the schedule lets go; the subscription renews at its last price.
    await billing.advance_to(FEB_4_2028 + HOUR + 1)
    schedule = await billing.client.v1.subscription_schedules.retrieve_async(schedule.id)
    assert (schedule.status, schedule.released_subscription, schedule.subscription) == (
        "released",
        sub.id,
        None,
    )
    assert (await billing.client.v1.subscriptions.retrieve_async(sub.id)).schedule is None
    yearly_paid = [e.data.object.amount_paid for e in await billing.events("invoice.paid")]
    assert yearly_paid == [1500, 15000, 15000]


async def test_a_monthly_change_for_one_month_then_released(billing: Billing) -> None:
    sub = await billing.subscribe()
    bigger = await billing.new_price(2500)
    schedule = await _schedule_change(
        billing, sub, bigger, duration={"interval": "month", "interval_count": 1}
    )
    assert schedule.phases[1].end_date == MAR_4
    await billing.advance_to(FEB_4 + HOUR + 1)  # at most two periods at a time
    await billing.advance_to(MAR_4 + HOUR + 1)
    paid = [e.data.object.amount_paid for e in await billing.events("invoice.paid")]
    assert paid == [1500, 2500, 2500]  # the change outlives the schedule
    (released,) = await billing.events("subscription_schedule.released")
    assert released.data.object.released_at == MAR_4
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert (sub.schedule, sub.items.data[0].current_period_end) == (None, APR_4)


async def test_a_scheduled_subscription_is_canceled_through_its_schedule(billing: Billing) -> None:
    sub = await billing.subscribe()
    schedule = await _schedule_change(billing, sub, await billing.new_price(2500))
    with pytest.raises(stripe.InvalidRequestError) as info:
        await billing.client.v1.subscriptions.update_async(
            sub.id, params={"cancel_at_period_end": True}
        )
    assert "managed by the subscription schedule" in str(info.value.user_message)

    released = await billing.client.v1.subscription_schedules.release_async(schedule.id)
    assert (released.status, released.released_at) == ("released", START)
    sub = await billing.client.v1.subscriptions.update_async(
        sub.id, params={"cancel_at_period_end": True}
    )
    assert (sub.schedule, sub.cancel_at) == (None, FEB_4)
    await billing.advance_to(FEB_4 + HOUR)
    assert [e.type for e in await billing.events("customer.subscription.deleted")] == [
        "customer.subscription.deleted"
    ]
    assert [e.data.object.amount_paid for e in await billing.events("invoice.paid")] == [1500]


async def test_canceling_a_schedule_cancels_its_subscription_now(billing: Billing) -> None:
    sub = await billing.subscribe()
    schedule = await billing.client.v1.subscription_schedules.create_async(
        params={"from_subscription": sub.id}
    )
    await billing.advance_to(START + DAY)
    canceled = await billing.client.v1.subscription_schedules.cancel_async(schedule.id)
    assert (canceled.status, canceled.canceled_at) == ("canceled", START + DAY)
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert (sub.status, sub.ended_at) == ("canceled", START + DAY)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"phase0_end": FEB_4 + DAY}, "phases[0][end_date]"),
        ({"phase0_price": "new"}, "phases[0][items]"),
        ({"third_phase": True}, "phases"),
        ({"end_behavior": "cancel"}, "end_behavior"),
        ({"trial": True}, "phases[1][trial]"),
    ],
)
async def test_schedules_the_emulator_cannot_run_are_refused(
    billing: Billing, change: dict[str, Any], param: str
) -> None:
    sub = await billing.subscribe()
    new = await billing.new_price(2500)
    schedule = await billing.client.v1.subscription_schedules.create_async(
        params={"from_subscription": sub.id}
    )
    first = {
        "items": [{"price": new.id if "phase0_price" in change else billing.price.id}],
        "end_date": change.get("phase0_end", FEB_4),
    }
    second: dict[str, Any] = {"items": [{"price": new.id}]}
    if change.get("trial"):
        second["trial"] = True
    phases = [first, second, second] if change.get("third_phase") else [first, second]
    params: dict[str, Any] = {"phases": phases}
    if "end_behavior" in change:
        params["end_behavior"] = change["end_behavior"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        await billing.client.v1.subscription_schedules.update_async(schedule.id, params=params)
    assert (info.value.http_status, info.value.param) == (400, param)
    unchanged = await billing.client.v1.subscription_schedules.retrieve_async(schedule.id)
    assert len(unchanged.phases) == 1
