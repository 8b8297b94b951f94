"""PaymentMethods and a customer's saved cards: create, attach, detach, list, check.

The rules Stripe keeps, kept here in one place:

- a PaymentMethod belongs to at most one customer (its ``customer``); attaching it to a
  second one is refused, attaching it again to the same one changes nothing;
- a declined test card (0002, 9995, ...) can never be attached: saving it is declined
  as a payment would be (4000 0000 0000 0341 is the card that saves, then fails);
- an unattached PaymentMethod can be used for one payment; once used, or once detached,
  it can never be used or attached again;
- ``payment_method.attached`` / ``payment_method.detached`` are emitted exactly once per
  change (the detached event's ``previous_attributes`` names the customer).

Behind each card PaymentMethod, ``store.private[pm_id]["card"]`` keeps its test card
number (what the card does when charged); ``"spent"`` marks one that may not be used again.
"""

from __future__ import annotations

from stripe_emulator.cards import PAYMENT_METHOD_TOKENS, TestCard, lookup_card
from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.objects.payment_method import (
    DEFAULT_EXPIRY,
    build_payment_method,
    card_hash,
)
from stripe_emulator.operations.customers import get_customer
from stripe_emulator.store import StripeObject

_SPENT = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was "
    "detached from a Customer. It may not be used again. To use a PaymentMethod multiple "
    "times, you must attach it to a Customer first."
)
_SPENT_ATTACH = (
    "This PaymentMethod was previously used without being attached to a Customer or was "
    "detached from a Customer, and may not be used again."
)


def new_card_payment_method(
    emu: Emulator,
    card: TestCard,
    *,
    exp_month: int | None = None,
    exp_year: int | None = None,
    email: str | None = None,
    name: str | None = None,
) -> StripeObject:
    """A fresh, unattached card PaymentMethod (what a card form creates)."""
    pm = build_payment_method(
        created=emu.now(),
        method_type="card",
        details=card_hash(card, exp_month or DEFAULT_EXPIRY[0], exp_year or DEFAULT_EXPIRY[1]),
        customer=None,
        email=email,
        name=name,
    )
    emu.store.add(pm)
    emu.store.private[pm["id"]] = {"card": card.number, "spent": False}
    return pm


def get_payment_method(emu: Emulator, pm_id: str, param: str | None = None) -> StripeObject:
    pm = emu.store.payment_methods.get(pm_id)
    if pm is None:
        raise no_such(emu.store.kind_of(pm_id), pm_id, param=param)
    return pm


def resolve_payment_method(emu: Emulator, ref: str, param: str = "payment_method") -> StripeObject:
    """The PaymentMethod ``ref`` names; a test id (``pm_card_visa``) makes a fresh one."""
    number = PAYMENT_METHOD_TOKENS.get(ref)
    if number is not None:
        return new_card_payment_method(emu, lookup_card(number))
    return get_payment_method(emu, ref, param=param)


def card_of(emu: Emulator, pm: StripeObject) -> TestCard | None:
    """The test card behind a card PaymentMethod (None for other types)."""
    number = emu.store.private.get(pm["id"], {}).get("card")
    return lookup_card(number) if number else None


def is_spent(emu: Emulator, pm: StripeObject) -> bool:
    return bool(emu.store.private.get(pm["id"], {}).get("spent"))


def mark_used(emu: Emulator, pm: StripeObject) -> None:
    """After a payment: an unattached PaymentMethod may not be used again."""
    if pm["customer"] is None:
        emu.store.private.setdefault(pm["id"], {})["spent"] = True


def check_usable(emu: Emulator, pm: StripeObject, customer_id: str | None) -> None:
    """Refuse a PaymentMethod a payment for ``customer_id`` may not use, as Stripe does."""
    if pm["customer"] is not None and customer_id is None:
        raise StripeError(
            f"The provided PaymentMethod {pm['id']} is attached to a Customer; pass that "
            "Customer as `customer` to use it.",
            param="customer",
        )
    if pm["customer"] is not None and pm["customer"] != customer_id:
        raise StripeError(
            f"The provided PaymentMethod {pm['id']} belongs to another Customer. Use a "
            f"PaymentMethod attached to {customer_id}.",
            param="payment_method",
        )
    if pm["customer"] is None and is_spent(emu, pm):
        raise StripeError(_SPENT, param="payment_method")


def attach(
    emu: Emulator, pm: StripeObject, customer_id: str, ctx: RequestContext = AUTOMATIC
) -> StripeObject:
    """Attach ``pm`` to a customer (``payment_method.attached``); a declined card is refused."""
    get_customer(emu, customer_id, param="customer")
    if pm["customer"] == customer_id:
        return pm
    if pm["customer"] is not None:
        raise StripeError(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    if is_spent(emu, pm):
        raise StripeError(_SPENT_ATTACH, param="payment_method")
    card = card_of(emu, pm)
    if card is not None and card.declined:
        error = card.error()
        error.extra["payment_method"] = emu.store.snapshot(pm)
        raise error
    pm["customer"] = customer_id
    emu.emit("payment_method.attached", pm, ctx)
    return pm


def detach(emu: Emulator, pm_id: str, ctx: RequestContext = AUTOMATIC) -> StripeObject:
    """Detach a saved PaymentMethod (``payment_method.detached``); it is spent for good."""
    pm = get_payment_method(emu, pm_id)
    customer_id = pm["customer"]
    if customer_id is None:
        raise StripeError(
            "The payment method you provided is not attached to a customer so detachment "
            "is impossible."
        )
    pm["customer"] = None
    emu.store.private.setdefault(pm["id"], {})["spent"] = True
    emu.emit("payment_method.detached", pm, ctx, previous_attributes={"customer": customer_id})
    return pm


def save_card(
    emu: Emulator,
    customer_id: str,
    number: str,
    *,
    exp_month: int | None = None,
    exp_year: int | None = None,
    email: str | None = None,
    name: str | None = None,
    ctx: RequestContext = AUTOMATIC,
) -> StripeObject:
    """Save a test card to a customer, as a completed setup does; a 402 if it is declined."""
    get_customer(emu, customer_id, param="customer")
    card = lookup_card(number)
    if card.declined:
        raise card.error()
    pm = new_card_payment_method(
        emu, card, exp_month=exp_month, exp_year=exp_year, email=email, name=name
    )
    return attach(emu, pm, customer_id, ctx)


def customer_payment_methods(
    emu: Emulator, customer_id: str, method_type: str | None = "card"
) -> list[StripeObject]:
    """A customer's saved PaymentMethods (of one type, or all with ``None``)."""
    return [
        pm
        for pm in emu.store.payment_methods.values()
        if pm["customer"] == customer_id and (method_type is None or pm["type"] == method_type)
    ]
