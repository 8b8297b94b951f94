"""Renewals charge the saved card off-session, as any saved-card payment: a card that needs
3D Secure, fine on Checkout's page, fails there; a detached card is no longer charged."""

from __future__ import annotations

from billing_support import Billing, billing, types

__all__ = ["billing"]

THREE_D_SECURE = "4000002760003184"
FEB_4 = 1_801_731_600
HOUR = 3600


async def test_a_card_that_needs_authentication_fails_its_off_session_renewal(
    billing: Billing,
) -> None:
    sub = await billing.subscribe(card=THREE_D_SECURE)  # authenticated on the page
    assert sub.status == "active"
    await billing.new_events()

    await billing.advance_to(FEB_4 + HOUR + 1)
    events = await billing.new_events("charge.", "invoice.payment", "customer.subscription.")
    charge = next(e.data.object for e in events if e.type == "charge.failed")
    assert charge.failure_code == "authentication_required"
    failed = next(e.data.object for e in events if e.type == "invoice.payment_failed")
    assert (failed.attempt_count, failed.amount_remaining) == (1, 1500)
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "past_due"


async def test_a_detached_card_is_not_charged_and_the_renewal_fails(billing: Billing) -> None:
    sub = await billing.subscribe()
    detached = await billing.client.v1.payment_methods.detach_async(sub.default_payment_method)
    assert detached.customer is None
    await billing.new_events()

    await billing.advance_to(FEB_4 + HOUR + 1)
    events = await billing.new_events("charge.", "invoice.payment", "customer.subscription.")
    assert "charge.failed" not in types(events)  # nothing to charge
    assert "invoice.payment_failed" in types(events)
    sub = await billing.client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "past_due"
