"""Charging an invoice: its PaymentIntent, confirmed off-session with a saved card.

Stripe creates one PaymentIntent per invoice when it finalizes it, and confirms that same
PaymentIntent at each attempt (the first one, every automatic retry, ``/pay``), with the
payment method the invoice would use: the invoice's ``default_payment_method``, else the
subscription's, else the customer's ``invoice_settings.default_payment_method``. Each
attempt is a card payment like any other (:func:`~.card_payments.confirm_card`, off-session
but for the first one, paid on Checkout's page): ``charge.succeeded`` and
``payment_intent.succeeded``, or ``charge.failed`` and ``payment_intent.payment_failed``
(the PaymentIntent back to ``requires_payment_method`` with ``last_payment_error``).
"""

from __future__ import annotations

from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.objects.payments import build_payment_intent
from stripe_emulator.operations.card_payments import after_payment, confirm_card
from stripe_emulator.store import StripeObject

_DESCRIPTIONS = {
    "subscription_create": "Subscription creation",
    "subscription_cycle": "Subscription update",
    "subscription_update": "Subscription update",
}


def invoice_payment_intent(emu: Emulator, invoice: StripeObject) -> StripeObject:
    pi = build_payment_intent(
        created=invoice["status_transitions"]["finalized_at"] or emu.now(),
        amount=invoice["amount_remaining"],
        currency=invoice["currency"],
        customer=invoice["customer"],
        description=_DESCRIPTIONS.get(invoice["billing_reason"]),
        metadata={},
        receipt_email=None,
        payment_method_types=["card"],
    )
    emu.store.add(pi)
    emu.emit("payment_intent.created", pi)
    return pi


def payment_method_for(emu: Emulator, invoice: StripeObject) -> StripeObject | None:
    """The payment method an automatic attempt uses, in Stripe's order of precedence."""
    sub_id = invoice["parent"]["subscription_details"]["subscription"]
    sub = emu.store.subscriptions.get(sub_id) or {}
    customer = emu.store.customers.get(invoice["customer"]) or {}
    settings = customer.get("invoice_settings") or {}
    for pm_id in (
        invoice["default_payment_method"],
        sub.get("default_payment_method"),
        settings.get("default_payment_method"),
    ):
        pm = emu.store.payment_methods.get(pm_id or "")
        # A card detached since it was made the default is no longer the customer's.
        if pm is not None and pm["customer"] == invoice["customer"]:
            return pm
    return None


def confirm_invoice_payment(
    emu: Emulator, pi: StripeObject, pm: StripeObject, *, on_page: bool = False
) -> StripeError | None:
    """One attempt to charge ``pm`` for the invoice's ``pi``: the card error, or None."""
    error = confirm_card(emu, pi, pm, off_session=not on_page, on_page=on_page)
    if error is None:
        after_payment(emu, pi)
    return error
