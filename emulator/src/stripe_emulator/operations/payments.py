"""Paying a Checkout Session: by card (at once) or by bank debit (settled later).

Event sequences follow Stripe's:

- card paid: ``payment_intent.created``, ``charge.succeeded``,
  ``payment_intent.succeeded``, ``checkout.session.completed`` (``payment_status=paid``);
- card declined: ``payment_intent.created`` (first attempt only), ``charge.failed``,
  ``payment_intent.payment_failed``; the session stays open (see ``card_payments``);
- with ``payment_intent_data[setup_future_usage]`` and a customer, the paid card is
  then attached to the customer (``payment_method.attached``);
- setup mode: see ``checkout_setup``;
- a session a discount made free: ``checkout.session.completed`` only
  (``no_payment_required``, no PaymentIntent), whatever the payer chose;
- card 4000 0000 0000 0259: paid as above, then disputed as fraudulent at once
  (``charge.dispute.created``, ``charge.dispute.funds_withdrawn``); card
  4000 0000 0000 5126: paid as above, its refunds fail later (see ``refunds``);
- bank debit: ``payment_intent.created``, ``charge.pending``,
  ``payment_intent.processing``, ``checkout.session.completed``
  (``payment_status=unpaid``); then on settlement ``charge.succeeded``,
  ``payment_intent.succeeded``, ``checkout.session.async_payment_succeeded``, or
  ``charge.failed``, ``payment_intent.payment_failed``,
  ``checkout.session.async_payment_failed``.
"""

from __future__ import annotations

import copy

from stripe_emulator.cards import lookup_card, parse_expiry
from stripe_emulator.core import AUTOMATIC, Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.objects.checkout import mark_complete
from stripe_emulator.objects.payment_method import build_payment_method
from stripe_emulator.objects.payments import (
    bank_debit_details,
    build_charge,
    build_payment_intent,
)
from stripe_emulator.operations import checkout_setup, discounts, payment_methods
from stripe_emulator.operations.card_payments import after_payment, confirm_card
from stripe_emulator.operations.checkout import get_session
from stripe_emulator.operations.checkout_subscription import pay_subscription_session
from stripe_emulator.payment_methods import delayed_method_for
from stripe_emulator.store import StripeObject

DEFAULT_EMAIL = "customer@example.com"


def _open_session(emu: Emulator, session_id: str) -> StripeObject:
    session = get_session(emu, session_id)
    if session["status"] != "open":
        raise StripeError(
            f"This Checkout Session is no longer active (status {session['status']}).",
            param="session",
        )
    return session


def known_email(emu: Emulator, session: StripeObject) -> str | None:
    """The email Checkout already has: the customer's, or ``customer_email``."""
    if session["customer"]:
        customer = emu.store.customers.get(session["customer"], {})
        if customer.get("email"):
            return str(customer["email"])
    return session["customer_email"]


def payer_email(emu: Emulator, session: StripeObject, given: str | None) -> str:
    """The email Checkout would collect: the known one, else the one typed in."""
    return known_email(emu, session) or given or DEFAULT_EMAIL


def _payment_intent(emu: Emulator, session: StripeObject) -> StripeObject:
    """The session's PaymentIntent, created on the first payment attempt."""
    existing = emu.store.payment_intents.get(session["payment_intent"] or "")
    if existing is not None:
        return existing
    data = emu.store.private[session["id"]]["payment_intent_data"]
    pi = build_payment_intent(
        created=emu.now(),
        amount=session["amount_total"],
        currency=session["currency"],
        customer=session["customer"],
        description=data["description"],
        metadata=dict(data["metadata"]),
        receipt_email=data["receipt_email"],
        payment_method_types=list(session["payment_method_types"]),
        allowed_payment_method_types=copy.copy(session["allowed_payment_method_types"]),
        statement_descriptor=data["statement_descriptor"],
        statement_descriptor_suffix=data["statement_descriptor_suffix"],
        setup_future_usage=data["setup_future_usage"],
    )
    emu.store.add(pi)
    session["payment_intent"] = pi["id"]
    emu.emit("payment_intent.created", pi)
    return pi


def _bank_payment_method(
    emu: Emulator, method_type: str, email: str, name: str | None
) -> StripeObject:
    # Used for this payment only: not attached to the session's customer.
    pm = build_payment_method(
        created=emu.now(),
        method_type=method_type,
        details=bank_debit_details(method_type),
        customer=None,
        email=email,
        name=name,
    )
    return emu.store.add(pm)


def _complete(
    emu: Emulator, session: StripeObject, email: str, name: str | None, paid: bool
) -> None:
    mark_complete(session, email, name, "paid" if paid else "unpaid")
    discounts.redeem(emu, session)
    if session["customer"]:
        customer = emu.store.customers.get(session["customer"])
        if customer is not None and customer.get("currency") is None:
            customer["currency"] = session["currency"]


def complete_free(
    emu: Emulator, session: StripeObject, email: str | None, name: str | None
) -> StripeObject:
    """A session a discount made free completes with nothing paid: no PaymentIntent,
    ``no_payment_required``, ``checkout.session.completed`` only."""
    email = payer_email(emu, session, email)
    mark_complete(session, email, name, "no_payment_required")
    discounts.redeem(emu, session)
    emu.emit("checkout.session.completed", session)
    return session


def pay_with_card(
    emu: Emulator,
    session_id: str,
    number: str,
    *,
    email: str | None = None,
    name: str | None = None,
    expiry: str | None = None,
) -> StripeObject:
    """Pay (or, in setup mode, save) by card; a 402 ``card_error`` leaves the session open."""
    session = _open_session(emu, session_id)
    if discounts.is_free(session):
        return complete_free(emu, session, email, name)
    if "card" not in session["payment_method_types"]:
        raise StripeError("This Checkout Session does not accept cards.", param="card")
    card = lookup_card(number)
    if card.code == "incorrect_number":
        # Rejected by the page's own validation: no PaymentIntent attempt is made.
        raise card.error()
    exp_month, exp_year = parse_expiry(expiry, emu.now())
    email = payer_email(emu, session, email)
    if session["mode"] == "setup":
        return checkout_setup.complete_with_card(
            emu, session, card, exp_month, exp_year, email, name
        )
    if session["mode"] == "subscription":
        return pay_subscription_session(emu, session, card, exp_month, exp_year, email, name)
    pi = _payment_intent(emu, session)
    pm = payment_methods.new_card_payment_method(
        emu, card, exp_month=exp_month, exp_year=exp_year, email=email, name=name
    )
    error = confirm_card(emu, pi, pm, off_session=False, on_page=True)
    if error is not None:
        raise error
    _complete(emu, session, email, name, paid=True)
    emu.emit("checkout.session.completed", session)
    after_payment(emu, pi)
    return session


def pay_with_bank_debit(
    emu: Emulator, session_id: str, *, email: str | None = None, name: str | None = None
) -> StripeObject:
    """Start a delayed bank payment: the session completes unpaid until it settles."""
    session = _open_session(emu, session_id)
    if discounts.is_free(session):
        return complete_free(emu, session, email, name)
    method_type = delayed_method_for(session["currency"])
    if method_type not in session["payment_method_types"]:
        raise StripeError(
            f"This Checkout Session does not accept {method_type} (its payment_method_types "
            f"are {', '.join(session['payment_method_types'])}).",
            param="method",
        )
    pi = _payment_intent(emu, session)
    email = payer_email(emu, session, email)
    pm = _bank_payment_method(emu, method_type, email, name)
    charge = emu.store.add(
        build_charge(
            created=emu.now(),
            payment_intent=pi,
            payment_method=pm,
            status="pending",
            receipt_base_url=emu.config.base_url,
        )
    )
    pi.update(
        status="processing",
        payment_method=pm["id"],
        latest_charge=charge["id"],
        last_payment_error=None,
        processing={"type": method_type},
    )
    _complete(emu, session, email, name, paid=False)
    emu.store.private[session["id"]]["awaiting_settlement"] = True
    emu.emit("charge.pending", charge)
    emu.emit("payment_intent.processing", pi)
    emu.emit("checkout.session.completed", session)
    return session


def settle(emu: Emulator, session_id: str, outcome: str) -> StripeObject:
    """The bank's answer to a delayed payment: ``succeeded`` or ``failed``."""
    if outcome not in ("succeeded", "failed"):
        raise StripeError("outcome must be 'succeeded' or 'failed'", param="outcome")
    session = get_session(emu, session_id)
    private = emu.store.private[session["id"]]
    if not private.get("awaiting_settlement"):
        raise StripeError(
            f"Checkout Session {session_id} has no delayed payment waiting to settle.",
            param="session",
        )
    private["awaiting_settlement"] = False
    pi = emu.store.payment_intents[session["payment_intent"]]
    charge = emu.store.charges[pi["latest_charge"]]
    if outcome == "succeeded":
        charge.update(status="succeeded", paid=True, balance_transaction=new_id("txn_"))
        pi.update(
            status="succeeded",
            amount_received=pi["amount"],
            processing=None,
            payment_record=new_id("pr_"),
        )
        session["payment_status"] = "paid"
        emu.emit("charge.succeeded", charge, AUTOMATIC)
        emu.emit("payment_intent.succeeded", pi, AUTOMATIC)
        emu.emit("checkout.session.async_payment_succeeded", session, AUTOMATIC)
    else:
        message = "The customer's bank account could not be debited."
        charge.update(
            status="failed",
            failure_code="debit_not_authorized",
            failure_message=message,
            outcome={
                **charge["outcome"],
                "network_status": "declined_by_network",
                "seller_message": message,
                "type": "issuer_declined",
            },
        )
        pi.update(
            status="requires_payment_method",
            processing=None,
            payment_method=None,
            last_payment_error={
                "type": "invalid_request_error",
                "code": "debit_not_authorized",
                "message": message,
            },
        )
        emu.emit("charge.failed", charge, AUTOMATIC)
        emu.emit("payment_intent.payment_failed", pi, AUTOMATIC)
        emu.emit("checkout.session.async_payment_failed", session, AUTOMATIC)
    return session
