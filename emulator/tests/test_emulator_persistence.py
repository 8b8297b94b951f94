"""With a state file the emulator keeps its objects across a restart (the demo's data folder).

Before: a restarted emulator had forgotten every customer, so each student who had bought
before got 502 on every later checkout ("No such customer").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from emulator_support import API_KEY
from stripe_emulator.testing import start_emulator


def _client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)


def _checkout_params(customer: str) -> dict[str, object]:
    return {
        "mode": "payment",
        "customer": customer,
        "line_items": [
            {
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": 1000,
                    "product_data": {"name": "Starter"},
                },
                "quantity": 1,
            }
        ],
        "success_url": "http://app.test/ok",
        "cancel_url": "http://app.test/cancel",
    }


def test_objects_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "stripe" / "state.json"
    first = start_emulator(state_path=state)
    try:
        sdk = _client(first.url)
        customer = sdk.v1.customers.create(params={"email": "kept@example.com"})
        session = sdk.v1.checkout.sessions.create(params=_checkout_params(customer.id))  # type: ignore[arg-type]
        first.control.pay(session.id)
    finally:
        first.stop()
    assert state.exists()

    second = start_emulator(state_path=state)
    try:
        sdk = _client(second.url)
        assert sdk.v1.customers.retrieve(customer.id).email == "kept@example.com"
        kept = sdk.v1.checkout.sessions.retrieve(session.id)
        assert kept.payment_status == "paid"
        assert kept.status == "complete"
        # Line items are found by their own ids again, and new objects keep coming.
        items = sdk.v1.checkout.sessions.line_items.list(session.id)
        assert [item.amount_total for item in items.data] == [1000]
        another = sdk.v1.checkout.sessions.create(params=_checkout_params(customer.id))  # type: ignore[arg-type]
        listed = sdk.v1.checkout.sessions.list(params={"limit": 10})
        assert [s.id for s in listed.data][:2] == [another.id, session.id]
        events = sdk.v1.events.list(params={"type": "checkout.session.completed"})
        assert session.id in [e.data.object["id"] for e in events.data]
    finally:
        second.stop()


def test_saved_cards_and_coupons_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = start_emulator(state_path=state)
    try:
        sdk = _client(first.url)
        customer = sdk.v1.customers.create(params={"email": "kept@example.com"})
        setup = sdk.v1.checkout.sessions.create(
            params={"mode": "setup", "currency": "gbp", "customer": customer.id,
                    "success_url": "http://app.test/ok"}
        )  # fmt: skip
        first.control.pay(setup.id, card="4000000000000341")
        sdk.v1.coupons.create(params={"id": "KEPT", "percent_off": "50"})
    finally:
        first.stop()

    second = start_emulator(state_path=state)
    try:
        sdk = _client(second.url)
        (card,) = sdk.v1.payment_methods.list(params={"customer": customer.id}).data
        # The card still behaves as its number does (0341: every charge declined).
        with pytest.raises(stripe.CardError) as declined:
            sdk.v1.payment_intents.create(
                params={"amount": 1000, "currency": "gbp", "customer": customer.id,
                        "payment_method": card.id, "off_session": True, "confirm": True}
            )  # fmt: skip
        assert declined.value.code == "card_declined"
        discounted = sdk.v1.checkout.sessions.create(
            params={**_checkout_params(customer.id), "discounts": [{"coupon": "KEPT"}]}  # type: ignore[dict-item]
        )
        assert discounted.amount_total == 500
    finally:
        second.stop()


def test_without_a_state_file_a_restart_forgets(tmp_path: Path) -> None:
    first = start_emulator()
    try:
        customer = _client(first.url).v1.customers.create(params={"email": "gone@example.com"})
    finally:
        first.stop()
    second = start_emulator()
    try:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            _client(second.url).v1.customers.retrieve(customer.id)
        assert missing.value.code == "resource_missing"
    finally:
        second.stop()
    assert not list(tmp_path.iterdir())
