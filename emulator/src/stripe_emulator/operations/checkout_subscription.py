"""Checkout in ``mode=subscription``: the session's parameters and paying it by card.

Paying saves the card to the customer (created from what Checkout collected when the
session named none) and starts the subscription with it as ``default_payment_method``;
the first invoice is charged at once. Events, in order: ``customer.created`` (a new
customer), ``payment_method.attached``, ``invoice.created``,
``customer.subscription.created`` (``incomplete``), ``payment_intent.created``,
``invoice.finalized``, ``charge.succeeded``, ``payment_intent.succeeded``,
``invoice_payment.paid``, ``invoice.paid``, ``invoice.payment_succeeded``,
``customer.subscription.updated`` (``active``), ``checkout.session.completed``
(``subscription`` and ``invoice`` set, ``payment_intent`` null).

A card whose payment would be declined (4000 0000 0000 0002, 9995, 0341, 3178, ...) is
refused on the page with nothing created; the session stays open. A card that needs 3D
Secure (3184) is authenticated on the page; its renewals, off-session, then fail.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import TestCard
from stripe_emulator.core import Emulator
from stripe_emulator.objects.checkout import mark_complete
from stripe_emulator.objects.customer import build_customer
from stripe_emulator.operations import payment_methods
from stripe_emulator.operations.subscriptions import start_subscription
from stripe_emulator.params import as_dict, as_metadata, opt_str, refuse_given, reject_unknown
from stripe_emulator.store import StripeObject

SUBSCRIPTION_DATA_KEYS = {
    "application_fee_percent", "billing_cycle_anchor", "billing_cycle_anchor_config",
    "billing_mode", "default_tax_rates", "description", "invoice_settings", "metadata",
    "on_behalf_of", "pending_invoice_item_interval", "proration_behavior", "transfer_data",
    "trial_end", "trial_period_days", "trial_settings",
}  # fmt: skip


def subscription_data(params: dict[str, Any]) -> dict[str, Any]:
    """``subscription_data``: its ``metadata`` and ``description`` (the rest is refused)."""
    data = as_dict(params.get("subscription_data", {}), "subscription_data")
    reject_unknown(data, SUBSCRIPTION_DATA_KEYS, "subscription_data")
    refuse_given(data, set(data) - {"metadata", "description", "billing_mode"}, "subscription_data")
    return {
        "metadata": as_metadata(data.get("metadata", {}), "subscription_data[metadata]"),
        "description": opt_str(
            data.get("description"), "subscription_data[description]", max_length=500
        ),
    }


def _customer(emu: Emulator, session: StripeObject, email: str, name: str | None) -> StripeObject:
    if session["customer"]:
        return emu.store.customers[session["customer"]]
    customer = build_customer(created=emu.now(), email=email, name=name)
    emu.store.add(customer)
    emu.emit("customer.created", customer)
    return customer


def pay_subscription_session(
    emu: Emulator,
    session: StripeObject,
    card: TestCard,
    exp_month: int,
    exp_year: int,
    email: str,
    name: str | None,
) -> StripeObject:
    """Save ``card`` and start the subscription; a 402 ``card_error`` (nothing created)
    for a card whose payment would be declined."""
    error = card.payment_error(off_session=False)
    if error is not None:
        raise error
    customer = _customer(emu, session, email, name)
    pm = payment_methods.save_card(
        emu, customer["id"], card.number, exp_month=exp_month, exp_year=exp_year,
        email=email, name=name,
    )  # fmt: skip
    (line,) = emu.store.line_items[session["id"]]
    data = emu.store.private[session["id"]]["subscription_data"]
    sub = start_subscription(
        emu,
        customer=customer,
        price=emu.store.prices[line["price"]["id"]],
        quantity=line["quantity"],
        payment_method=pm,
        metadata=dict(data["metadata"]),
        description=data["description"],
    )
    if customer.get("currency") is None:
        customer["currency"] = session["currency"]
    session.update(customer=customer["id"], subscription=sub["id"], invoice=sub["latest_invoice"])
    mark_complete(session, email, name, "paid")
    emu.emit("checkout.session.completed", session)
    return session
