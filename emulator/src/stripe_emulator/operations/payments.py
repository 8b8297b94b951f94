"""Paying a Checkout Session: by card (at once) or by bank debit (settled later).

Event sequences follow Stripe's:

- card paid: ``payment_intent.created``, ``charge.succeeded``,
  ``payment_intent.succeeded``, ``checkout.session.completed`` (``payment_status=paid``);
- card declined: ``payment_intent.created`` (first attempt only),
  ``payment_intent.payment_failed``; the session stays open and no charge exists;
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
from typing import Any

from stripe_emulator.cards import TestCard, lookup_card
from stripe_emulator.core import AUTOMATIC, Emulator
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.objects.checkout import customer_details
from stripe_emulator.objects.payments import (
    bank_debit_details,
    build_charge,
    build_payment_intent,
    build_payment_method,
    card_details,
)
from stripe_emulator.operations.checkout import get_session
from stripe_emulator.operations.disputes import open_dispute
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
    )
    emu.store.add(pi)
    session["payment_intent"] = pi["id"]
    emu.emit("payment_intent.created", pi)
    return pi


def _payment_method(
    emu: Emulator,
    session: StripeObject,
    method_type: str,
    details: dict[str, Any],
    email: str,
    name: str | None,
) -> StripeObject:
    pm = build_payment_method(
        created=emu.now(),
        method_type=method_type,
        details=details,
        customer=session["customer"],
        email=email,
        name=name,
    )
    return emu.store.add(pm)


def _complete(
    emu: Emulator, session: StripeObject, email: str, name: str | None, paid: bool
) -> None:
    session.update(
        status="complete",
        payment_status="paid" if paid else "unpaid",
        customer_details=customer_details(email, name),
        url=None,
    )
    if session["customer"]:
        customer = emu.store.customers.get(session["customer"])
        if customer is not None and customer.get("currency") is None:
            customer["currency"] = session["currency"]


def _decline(emu: Emulator, pi: StripeObject, card: TestCard) -> StripeError:
    error = card.error()
    pi["last_payment_error"] = {
        **error.body()["error"],
        "payment_method": {
            "object": "payment_method",
            "type": "card",
            "card": {"brand": card.brand, "last4": card.last4},
        },
    }
    pi["status"] = "requires_payment_method"
    emu.emit("payment_intent.payment_failed", pi)
    error.extra["payment_intent"] = {"id": pi["id"], "status": pi["status"]}
    return error


def pay_with_card(
    emu: Emulator,
    session_id: str,
    number: str,
    *,
    email: str | None = None,
    name: str | None = None,
) -> StripeObject:
    """Pay by card; raises a 402 ``card_error`` (session left open) on a decline."""
    session = _open_session(emu, session_id)
    if "card" not in session["payment_method_types"]:
        raise StripeError("This Checkout Session does not accept cards.", param="card")
    card = lookup_card(number)
    if card.code == "incorrect_number":
        # Rejected by the page's own validation: no PaymentIntent attempt is made.
        raise card.error()
    pi = _payment_intent(emu, session)
    if card.declined:
        raise _decline(emu, pi, card)
    email = payer_email(emu, session, email)
    pm = _payment_method(
        emu,
        session,
        "card",
        card_details(card.brand, card.last4, card.funding, card.country),
        email,
        name,
    )
    charge = emu.store.add(
        build_charge(
            created=emu.now(),
            payment_intent=pi,
            payment_method=pm,
            status="succeeded",
            receipt_base_url=emu.config.base_url,
        )
    )
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        payment_method=pm["id"],
        latest_charge=charge["id"],
        last_payment_error=None,
        payment_record=new_id("pr_"),
    )
    _complete(emu, session, email, name, paid=True)
    if card.refunds_fail:
        emu.store.private[charge["id"]] = {"refunds_fail": True}
    emu.emit("charge.succeeded", charge)
    emu.emit("payment_intent.succeeded", pi)
    emu.emit("checkout.session.completed", session)
    if card.disputed:
        open_dispute(emu, charge, None, "fraudulent")
    return session


def pay_with_bank_debit(
    emu: Emulator, session_id: str, *, email: str | None = None, name: str | None = None
) -> StripeObject:
    """Start a delayed bank payment: the session completes unpaid until it settles."""
    session = _open_session(emu, session_id)
    method_type = delayed_method_for(session["currency"])
    if method_type not in session["payment_method_types"]:
        raise StripeError(
            f"This Checkout Session does not accept {method_type} (its payment_method_types "
            f"are {', '.join(session['payment_method_types'])}).",
            param="method",
        )
    pi = _payment_intent(emu, session)
    email = payer_email(emu, session, email)
    pm = _payment_method(emu, session, method_type, bank_debit_details(method_type), email, name)
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
