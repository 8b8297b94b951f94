"""The emulator's internal API for saved cards, as code inside the emulator (subscription
renewals) uses it: ``operations.payment_methods.save_card`` / ``detach`` and
``operations.payment_intents.charge_saved_card``; and the same flow in-process through the
official SDK, with a signed webhook reaching an ASGI app and no socket opened."""

from __future__ import annotations

import pytest
import stripe

from emulator_support import API_KEY, SECRET, WebhookReceiver
from stripe_emulator.core import AUTOMATIC, Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.operations import payment_methods
from stripe_emulator.operations.customers import create_customer
from stripe_emulator.operations.payment_intents import charge_saved_card
from stripe_emulator.testing import InProcessEmulator


def _types(emu: Emulator) -> list[str]:
    events = sorted(emu.store.events.values(), key=lambda e: emu.store.order(e["id"]) or 0)
    return [e["type"] for e in events]


def _emulator_with_customer() -> tuple[Emulator, str]:
    emu = Emulator()
    customer = create_customer(emu, {"email": "renew@example.com"}, AUTOMATIC)
    return emu, customer["id"]


def test_charge_saved_card_succeeds_and_records_what_the_api_would() -> None:
    emu, customer = _emulator_with_customer()
    card = payment_methods.save_card(emu, customer, "4242424242424242")
    assert payment_methods.customer_payment_methods(emu, customer) == [card]

    result = charge_saved_card(
        emu, customer=customer, payment_method=card["id"], amount=2500, currency="gbp",
        metadata={"invoice": "in_1"}, description="Monthly plan",
    )  # fmt: skip
    assert result.succeeded
    assert result.error is None
    assert result.payment_intent["status"] == "succeeded"
    assert result.payment_intent["metadata"] == {"invoice": "in_1"}
    assert result.charge is not None
    assert result.charge["amount"] == 2500
    assert result.charge["id"] == result.payment_intent["latest_charge"]
    assert _types(emu)[-3:] == [
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("number", "code", "decline_code"),
    [
        ("4000000000000341", "card_declined", "generic_decline"),
        ("4000002760003184", "authentication_required", "authentication_required"),
    ],
)
def test_charge_saved_card_reports_a_decline_without_raising(
    number: str, code: str, decline_code: str
) -> None:
    emu, customer = _emulator_with_customer()
    card = payment_methods.save_card(emu, customer, number)
    result = charge_saved_card(
        emu, customer=customer, payment_method=card["id"], amount=2500, currency="gbp"
    )
    assert not result.succeeded
    assert result.error is not None
    assert result.error.code == code
    assert result.error.extra["decline_code"] == decline_code
    assert result.payment_intent["status"] == "requires_payment_method"
    assert result.charge is not None
    assert result.charge["status"] == "failed"
    assert _types(emu)[-2:] == ["charge.failed", "payment_intent.payment_failed"]


def test_what_cannot_be_charged_is_refused_before_trying() -> None:
    emu, customer = _emulator_with_customer()
    with pytest.raises(StripeError) as declined:
        payment_methods.save_card(emu, customer, "4000000000009995")
    assert (declined.value.status, declined.value.code) == (402, "card_declined")

    card = payment_methods.save_card(emu, customer, "4242424242424242")
    other = create_customer(emu, {"email": "x@example.com"}, AUTOMATIC)["id"]
    with pytest.raises(StripeError) as foreign:
        charge_saved_card(
            emu, customer=other, payment_method=card["id"], amount=500, currency="gbp"
        )
    assert foreign.value.param == "payment_method"
    payment_methods.detach(emu, card["id"])
    assert _types(emu)[-1] == "payment_method.detached"
    with pytest.raises(StripeError, match="may not be used again"):
        charge_saved_card(
            emu, customer=customer, payment_method=card["id"], amount=500, currency="gbp"
        )
    assert emu.store.payment_intents == {}


async def test_in_process_a_saved_card_is_charged_and_the_app_gets_signed_events() -> None:
    app = WebhookReceiver()
    async with InProcessEmulator() as emulator:
        await emulator.add_endpoint(
            "http://app.test/api/webhooks/stripe",
            secret=SECRET,
            enabled_events=["payment_intent.*", "payment_method.*", "checkout.session.completed"],
            app=app,
        )
        client = emulator.stripe_client(API_KEY)
        customer = await client.v1.customers.create_async(params={"email": "s@example.com"})
        session = await client.v1.checkout.sessions.create_async(
            params={"mode": "setup", "currency": "gbp", "customer": customer.id,
                    "success_url": "https://app.example/ok"}
        )  # fmt: skip
        await emulator.pay(session.id, card="4242424242424242")
        (card,) = (
            await client.v1.payment_methods.list_async(
                params={"customer": customer.id, "type": "card"}
            )
        ).data
        pi = await client.v1.payment_intents.create_async(
            params={"amount": 1000, "currency": "gbp", "customer": customer.id,
                    "payment_method": card.id, "off_session": True, "confirm": True},
            options={"idempotency_key": "attempt-1"},
        )  # fmt: skip
        assert pi.status == "succeeded"
        with pytest.raises(stripe.CardError):
            await client.v1.payment_intents.create_async(
                params={"amount": 1000, "currency": "gbp", "customer": customer.id,
                        "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                        "off_session": True, "confirm": True}
            )  # fmt: skip
        await emulator.wait_for_deliveries()
    events = [stripe.Webhook.construct_event(r.text, r.signature, SECRET) for r in app.bodies()]
    types = sorted(e.type for e in events)
    assert types == sorted([
        "payment_method.attached", "checkout.session.completed",
        "payment_intent.created", "payment_intent.succeeded",
        "payment_intent.created", "payment_intent.payment_failed",
    ])  # fmt: skip
    failed = next(e for e in events if e.type == "payment_intent.payment_failed")
    assert failed.data.object.last_payment_error.decline_code == "insufficient_funds"
