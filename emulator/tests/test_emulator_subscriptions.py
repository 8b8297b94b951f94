"""Monthly subscriptions through the official SDK, in-process: Checkout, renewals on a test
clock, a failed renewal and its recovery, cancellation at the period's end, a price change
at renewal, refunds and disputes of a subscription payment. Every event is checked as the
app receives it: delivered to its webhook endpoint and verified with the endpoint's secret.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from billing_support import CHARGES_FAIL, DAY, START, VISA, Billing, billing, types
from stripe_emulator.client import EmulatorError

__all__ = ["billing"]

FEB_4, MAR_4, APR_4 = 1_801_731_600, 1_804_150_800, 1_806_829_200
HOUR = 3600


def _period(invoice: Any) -> tuple[int, int]:
    line = invoice.lines.data[0]
    return line.period.start, line.period.end


async def test_checkout_starts_an_active_subscription_and_pays_its_first_invoice(
    billing: Billing,
) -> None:
    await billing.new_events()  # the fixture's own: clock, customer, product, price
    sub = await billing.subscribe()

    assert sub.status == "active"
    assert sub.customer == billing.customer.id
    assert sub.test_clock == billing.clock.id
    assert sub.metadata.to_dict() == {"plan_id": "plan-1"}
    (item,) = sub.items.data
    assert item.price.id == billing.price.id
    assert (item.current_period_start, item.current_period_end) == (START, FEB_4)
    pm = await billing.client.v1.payment_methods.retrieve_async(sub.default_payment_method)
    assert (pm.customer, pm.card.last4) == (billing.customer.id, "4242")

    invoice = await billing.client.v1.invoices.retrieve_async(sub.latest_invoice)
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_create")
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (1500, 1500, 0)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.lines.data[0].subscription == sub.id
    assert _period(invoice) == (START, FEB_4)
    assert invoice.number.endswith("-0001")

    events = await billing.new_events()
    assert types(events) == [
        "payment_method.attached",
        "invoice.created",
        "customer.subscription.created",
        "payment_intent.created",
        "invoice.finalized",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]
    order = types(events)
    created = events[order.index("customer.subscription.created")].data.object
    assert created.status == "incomplete"
    activated = events[order.index("customer.subscription.updated")]
    assert (activated.data.object.status, activated.data.previous_attributes.status) == (
        "active",
        "incomplete",
    )
    completed = events[-1]
    assert completed.type == "checkout.session.completed"
    assert completed.data.object.subscription == sub.id
    assert completed.data.object.invoice == invoice.id
    assert completed.data.object.payment_intent is None
    assert completed.data.object.mode == "subscription"


async def test_two_renewals_on_a_test_clock_pay_two_consecutive_periods(billing: Billing) -> None:
    sub = await billing.subscribe()
    await billing.new_events()

    # At the end of the period the renewal invoice is only a draft...
    await billing.advance_to(FEB_4)
    events = await billing.new_events("invoice.", "customer.subscription.")
    assert types(events) == ["invoice.created", "customer.subscription.updated"]
    draft = events[0].data.object
    assert (draft.status, draft.billing_reason) == ("draft", "subscription_cycle")
    renewed = events[1].data.object.items.data[0]
    assert (renewed.current_period_start, renewed.current_period_end) == (FEB_4, MAR_4)

    # ...finalized and charged an hour later.
    await billing.advance_to(FEB_4 + HOUR + 1)
    # Then a second renewal, a month on.
    await billing.advance_to(MAR_4 + 2 * HOUR)
    paid = [e.data.object for e in await billing.events("invoice.paid")]
    assert [p.billing_reason for p in paid] == [
        "subscription_create",
        "subscription_cycle",
        "subscription_cycle",
    ]
    assert [_period(p) for p in paid] == [(START, FEB_4), (FEB_4, MAR_4), (MAR_4, APR_4)]
    assert [p.amount_paid for p in paid] == [1500, 1500, 1500]
    # Stripe's invoice period is that of the items billed in arrears: the previous period.
    assert (paid[1].period_start, paid[1].period_end) == (START, FEB_4)
    assert paid[1].status_transitions.paid_at == FEB_4 + HOUR

    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "active"
    assert sub.items.data[0].current_period_end == APR_4
    assert sub.latest_invoice == paid[2].id
    listed = await billing.client.v1.invoices.list_async(params={"subscription": sub.id})
    assert [i.id for i in listed.data] == [p.id for p in reversed(paid)]


async def test_a_renewal_on_a_card_saved_through_the_portal_fails_then_recovers(
    billing: Billing,
) -> None:
    sub = await billing.subscribe()
    portal = await billing.portal()
    # The student replaces the card with 4000 0000 0000 0341: it saves fine...
    answer = await billing.portal_post(f"{portal.url}/payment_method", card_number=CHARGES_FAIL)
    assert answer.status_code == 303
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    customer = await billing.client.v1.customers.retrieve_async(billing.customer.id)
    assert sub.default_payment_method == customer.invoice_settings.default_payment_method
    await billing.new_events()

    # ...but the renewal charge on it is declined.
    await billing.advance_to(FEB_4 + HOUR + 1)
    events = await billing.new_events("invoice.", "customer.subscription.", "charge.")
    assert "invoice.paid" not in types(events)
    failed = next(e.data.object for e in events if e.type == "invoice.payment_failed")
    assert (failed.status, failed.attempt_count, failed.amount_paid) == ("open", 1, 0)
    assert failed.next_payment_attempt == FEB_4 + HOUR + 3 * DAY
    charge = next(e.data.object for e in events if e.type == "charge.failed")
    assert (charge.failure_code, charge.outcome.reason) == ("card_declined", "generic_decline")
    past_due = [e for e in events if e.type == "customer.subscription.updated"][-1]
    assert (past_due.data.object.status, past_due.data.previous_attributes.status) == (
        "past_due",
        "active",
    )

    # The student puts a good card back; the next retry charges it.
    answer = await billing.portal_post(f"{portal.url}/payment_method", card_number=VISA)
    assert answer.status_code == 303
    await billing.advance_to(FEB_4 + HOUR + 3 * DAY)
    events = await billing.new_events("invoice.", "customer.subscription.")
    paid = next(e.data.object for e in events if e.type == "invoice.paid")
    assert (paid.id, paid.attempt_count, paid.amount_paid) == (failed.id, 2, 1500)
    assert _period(paid) == (FEB_4, MAR_4)
    active = [e for e in events if e.type == "customer.subscription.updated"][-1]
    assert active.data.object.status == "active"


async def test_when_every_retry_fails_the_subscription_is_canceled(billing: Billing) -> None:
    sub = await billing.subscribe()
    answer = await billing.portal_post(
        f"{(await billing.portal()).url}/payment_method", card_number=CHARGES_FAIL
    )
    assert answer.status_code == 303
    await billing.advance_to(FEB_4 + HOUR + 1)
    await billing.advance_to(FEB_4 + HOUR + 16 * DAY)  # retries after 3, 5 and 7 more days

    failures = [e.data.object for e in await billing.events("invoice.payment_failed")]
    assert [f.attempt_count for f in failures] == [1, 2, 3, 4]
    assert failures[-1].next_payment_attempt is None
    (deleted,) = await billing.events("customer.subscription.deleted")
    assert deleted.data.object.id == sub.id
    assert deleted.data.object.cancellation_details.reason == "payment_failed"
    invoice = await billing.client.v1.invoices.retrieve_async(failures[0].id)
    assert invoice.status == "open"  # left open, as Stripe leaves it


@pytest.mark.parametrize("how", ["api", "portal"])
async def test_cancel_at_period_end_ends_the_subscription_when_the_period_ends(
    billing: Billing, how: str
) -> None:
    sub = await billing.subscribe()
    if how == "api":
        updated = await billing.client.v1.subscriptions.update_async(
            sub.id, params={"cancel_at_period_end": True}
        )
        assert (updated.cancel_at_period_end, updated.cancel_at) == (True, FEB_4)
        assert updated.canceled_at == START
    else:
        portal = await billing.portal()
        answer = await billing.portal_post(f"{portal.url}/subscriptions/{sub.id}/cancel")
        assert answer.status_code == 303
        assert answer.headers["location"] == portal.url
    (asked,) = [e for e in await billing.events("customer.subscription.updated")][-1:]
    assert asked.data.object.cancel_at_period_end is True
    assert asked.data.previous_attributes.cancel_at_period_end is False
    assert asked.data.object.cancellation_details.reason == "cancellation_requested"
    await billing.new_events()

    await billing.advance_to(FEB_4 + 2 * HOUR)
    events = await billing.new_events("invoice.", "customer.subscription.")
    assert types(events) == ["customer.subscription.deleted"]
    ended = events[0].data.object
    assert (ended.status, ended.ended_at, ended.canceled_at) == ("canceled", FEB_4, START)
    # Canceled subscriptions leave the default list, as on Stripe.
    listed = await billing.client.v1.subscriptions.list_async(
        params={"customer": billing.customer.id}
    )
    assert listed.data == []
    everything = await billing.client.v1.subscriptions.list_async(
        params={"customer": billing.customer.id, "status": "all"}
    )
    assert [s.id for s in everything.data] == [sub.id]


async def test_renew_undoes_a_cancellation_and_the_plan_renews(billing: Billing) -> None:
    sub = await billing.subscribe()
    portal = await billing.portal()
    await billing.portal_post(f"{portal.url}/subscriptions/{sub.id}/cancel")
    await billing.portal_post(f"{portal.url}/subscriptions/{sub.id}/renew")
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert (sub.cancel_at_period_end, sub.cancel_at, sub.canceled_at) == (False, None, None)
    await billing.advance_to(FEB_4 + HOUR + 1)
    assert len(await billing.events("invoice.paid")) == 2
    assert await billing.events("customer.subscription.deleted") == []


async def test_a_price_change_with_proration_none_is_billed_from_the_next_renewal(
    billing: Billing,
) -> None:
    sub = await billing.subscribe()
    bigger = await billing.new_price(2500, "month")
    await billing.new_events()
    updated = await billing.client.v1.subscriptions.update_async(
        sub.id,
        params={
            "items": [{"id": sub.items.data[0].id, "price": bigger.id}],
            "proration_behavior": "none",
        },
    )
    assert updated.items.data[0].price.id == bigger.id
    assert updated.items.data[0].current_period_end == FEB_4  # the period is unchanged
    events = await billing.new_events()
    assert types(events) == ["customer.subscription.updated"]  # nothing billed now
    assert events[0].data.previous_attributes["items"]["data"][0]["price"]["id"] == (
        billing.price.id
    )

    await billing.advance_to(FEB_4 + HOUR + 1)
    (renewal,) = [e.data.object for e in await billing.new_events("invoice.paid")]
    assert (renewal.amount_paid, renewal.lines.data[0].pricing.price_details.price) == (
        2500,
        bigger.id,
    )


async def test_a_price_change_that_needs_proration_is_refused(billing: Billing) -> None:
    sub = await billing.subscribe()
    bigger = await billing.new_price(2500, "month")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await billing.client.v1.subscriptions.update_async(
            sub.id,
            params={
                "items": [{"id": sub.items.data[0].id, "price": bigger.id}],
                "metadata": {"plan_id": "plan-2"},
                "cancel_at_period_end": True,
            },
        )
    assert info.value.param == "proration_behavior"
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    # Nothing of the refused update was applied.
    assert sub.items.data[0].price.id == billing.price.id
    assert (sub.metadata.to_dict(), sub.cancel_at_period_end) == ({"plan_id": "plan-1"}, False)


async def test_a_change_to_a_yearly_price_bills_the_year_at_once(billing: Billing) -> None:
    sub = await billing.subscribe()
    yearly = await billing.new_price(15000, "year")
    await billing.advance_to(START + 10 * DAY)
    updated = await billing.client.v1.subscriptions.update_async(
        sub.id,
        params={
            "items": [{"id": sub.items.data[0].id, "price": yearly.id}],
            "proration_behavior": "none",
        },
    )
    assert updated.billing_cycle_anchor == START + 10 * DAY
    item = updated.items.data[0]
    assert item.current_period_end - item.current_period_start == 365 * DAY
    invoice = await billing.client.v1.invoices.retrieve_async(updated.latest_invoice)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == (
        "subscription_update",
        "paid",
        15000,
    )


async def test_a_subscription_payment_is_refunded_and_disputed_like_any_payment(
    billing: Billing,
) -> None:
    sub = await billing.subscribe()
    plain = await billing.client.v1.invoices.retrieve_async(sub.latest_invoice)
    assert "payments" not in plain
    assert "confirmation_secret" not in plain
    invoice = await billing.client.v1.invoices.retrieve_async(
        sub.latest_invoice,
        params={"expand": ["payments.data.payment.payment_intent", "confirmation_secret"]},
    )
    assert invoice.confirmation_secret is None  # paid: nothing left to confirm
    (payment,) = invoice.payments.data
    assert (payment.status, payment.amount_paid, payment.invoice) == ("paid", 1500, invoice.id)
    pi = payment.payment.payment_intent
    assert (pi.status, pi.amount_received, pi.customer) == ("succeeded", 1500, sub.customer)
    # The same link, the other way round: from a PaymentIntent to its invoice.
    found = await billing.client.v1.invoice_payments.list_async(
        params={"payment": {"type": "payment_intent", "payment_intent": pi.id}}
    )
    assert [p.invoice for p in found.data] == [invoice.id]

    refund = await billing.client.v1.refunds.create_async(
        params={"payment_intent": pi.id, "amount": 500}
    )
    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 500, pi.latest_charge)
    (refunded,) = await billing.events("charge.refunded")
    assert refunded.data.object.amount_refunded == 500

    dispute = await billing.emulator.dispute(payment_intent=pi.id)
    assert (dispute["amount"], dispute["charge"]) == (1000, pi.latest_charge)
    assert len(await billing.events("charge.dispute.created")) == 1


async def test_a_declined_card_at_checkout_creates_no_subscription(billing: Billing) -> None:
    session = await billing.client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": billing.customer.id,
            "line_items": [{"price": billing.price.id, "quantity": 1}],
            "success_url": "https://app.example/ok",
        }
    )
    with pytest.raises(EmulatorError) as info:
        await billing.emulator.pay(session.id, card=CHARGES_FAIL)
    assert (info.value.status_code, info.value.code) == (402, "card_declined")
    session = await billing.client.v1.checkout.sessions.retrieve_async(session.id)
    assert (session.status, session.subscription) == ("open", None)
    listed = await billing.client.v1.subscriptions.list_async(params={"status": "all"})
    assert listed.data == []
