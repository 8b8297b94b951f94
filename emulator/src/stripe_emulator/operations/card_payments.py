"""Charging a card for a PaymentIntent: the one place a card payment succeeds or fails.

Checkout's hosted page, ``POST /v1/payment_intents`` (and ``.../confirm``) and anything
that charges a saved card off-session (subscription renewals) all call
:func:`confirm_card`, so a payment's objects and events are the same whoever asks:

- authorised: a ``succeeded`` charge, the intent ``succeeded``; ``charge.succeeded``,
  ``payment_intent.succeeded``; with ``setup_future_usage`` and a customer, the card is
  then attached to the customer (``payment_method.attached``);
- declined (a declined card, a card whose charges fail, or a card that needs 3D Secure
  paid off-session): a ``failed`` charge with the issuer's outcome, the intent back to
  ``requires_payment_method`` with ``last_payment_error`` (``payment_method`` null);
  ``charge.failed``, ``payment_intent.payment_failed``; the 402 ``card_error`` returned
  carries ``charge``, ``decline_code``, ``payment_intent`` and ``payment_method`` as
  Stripe's does;
- a card that needs 3D Secure, confirmed on-session through the API: ``requires_action``
  (``payment_intent.requires_action``), its ``next_action`` pointing at the emulator's
  authentication page (``/3ds/{id}``), where the payer completes or fails it
  (:func:`authenticate`). Checkout's hosted page completes the authentication itself, so
  there the payment goes on.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import TestCard, authentication_required
from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.objects.payment_method import DEFAULT_EXPIRY
from stripe_emulator.objects.payments import build_charge, card_details, mark_declined
from stripe_emulator.operations import payment_methods
from stripe_emulator.operations.disputes import open_dispute
from stripe_emulator.store import StripeObject


def confirm_card(
    emu: Emulator,
    pi: StripeObject,
    pm: StripeObject,
    *,
    off_session: bool,
    on_page: bool = False,
    error_on_requires_action: bool = False,
    ctx: RequestContext = AUTOMATIC,
) -> StripeError | None:
    """Charge ``pm`` for ``pi``; the card error on a decline (already recorded), else None.

    ``on_page``: the payer is on the hosted page and completes 3D Secure there.
    """
    card = payment_methods.card_of(emu, pm)
    if card is None:
        raise StripeError(f"PaymentMethod {pm['id']} is not a card.", param="payment_method")
    if card.always_authenticate and not off_session and not on_page:
        # 3D Secure the API cannot run: wait for it, or fail now if asked to.
        if not error_on_requires_action:
            _require_action(emu, pi, pm, ctx)
            return None
        error: StripeError | None = authentication_required()
    else:
        error = card.payment_error(off_session=off_session)
    charge = _charge(emu, pi, pm, card, authenticated=card.always_authenticate and on_page)
    if error is not None:
        return _decline(emu, pi, pm, charge, error, ctx)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        payment_method=pm["id"],
        latest_charge=charge["id"],
        last_payment_error=None,
        next_action=None,
        payment_record=new_id("pr_"),
    )
    if card.refunds_fail:
        emu.store.private[charge["id"]] = {"refunds_fail": True}
    emu.emit("charge.succeeded", charge, ctx)
    emu.emit("payment_intent.succeeded", pi, ctx)
    if pi["setup_future_usage"] and pi["customer"] and pm["customer"] is None:
        payment_methods.attach(emu, pm, pi["customer"], ctx)
    payment_methods.mark_used(emu, pm)
    return None


def authenticate(emu: Emulator, pi: StripeObject, *, completed: bool) -> StripeError | None:
    """The payer answers the 3D Secure challenge of a ``requires_action`` intent.

    Completed: the payment goes on as on the hosted page (it may still be declined, as
    4000 0082 6000 3178 is). Failed: no charge; the intent is back to
    ``requires_payment_method`` with Stripe's ``payment_intent_authentication_failure``
    (``payment_intent.payment_failed``).
    """
    pm = payment_methods.get_payment_method(emu, pi["payment_method"])
    if completed:
        error = confirm_card(emu, pi, pm, off_session=False, on_page=True)
        if error is None:
            after_payment(emu, pi)
        return error
    error = StripeError(
        "The provided PaymentMethod has failed authentication. You can provide "
        "payment_method_data or a new PaymentMethod to attempt to fulfill this "
        "PaymentIntent again.",
        code="payment_intent_authentication_failure",
    )
    payment_methods.mark_used(emu, pm)
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_payment_error={**error.body()["error"], "payment_method": emu.store.snapshot(pm)},
    )
    emu.emit("payment_intent.payment_failed", pi)
    return error


def after_payment(emu: Emulator, pi: StripeObject) -> None:
    """What a test card does once its payment is recorded: 0259 is disputed at once."""
    charge = emu.store.charges.get(pi["latest_charge"] or "")
    pm = emu.store.payment_methods.get(pi["payment_method"] or "")
    card = payment_methods.card_of(emu, pm) if pm else None
    if charge is not None and card is not None and card.disputed and charge["paid"]:
        open_dispute(emu, charge, None, "fraudulent")


def _charge(
    emu: Emulator, pi: StripeObject, pm: StripeObject, card: TestCard, *, authenticated: bool
) -> StripeObject:
    exp = (pm["card"].get("exp_month"), pm["card"].get("exp_year"))
    month, year = exp if all(exp) else DEFAULT_EXPIRY
    charge = build_charge(
        created=emu.now(),
        payment_intent=pi,
        payment_method=pm,
        status="succeeded",
        receipt_base_url=emu.config.base_url,
        method_details=card_details(card, month, year, authenticated=authenticated),
    )
    return emu.store.add(charge)


def _decline(
    emu: Emulator,
    pi: StripeObject,
    pm: StripeObject,
    charge: StripeObject,
    error: StripeError,
    ctx: RequestContext,
) -> StripeError:
    decline_code = error.extra.get("decline_code")
    mark_declined(charge, error.code or "card_declined", decline_code, error.message)
    error.extra["charge"] = charge["id"]
    payment_methods.mark_used(emu, pm)
    pm_snapshot = emu.store.snapshot(pm)
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        latest_charge=charge["id"],
        next_action=None,
        last_payment_error={**error.body()["error"], "payment_method": pm_snapshot},
    )
    emu.emit("charge.failed", charge, ctx)
    emu.emit("payment_intent.payment_failed", pi, ctx)
    error.extra["payment_intent"] = emu.store.snapshot(pi)
    error.extra["payment_method"] = pm_snapshot
    return error


def _require_action(emu: Emulator, pi: StripeObject, pm: StripeObject, ctx: RequestContext) -> None:
    next_action: dict[str, Any] = {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "source": new_id("src_"),
            # The emulator's page for the challenge (Stripe.js would open the bank's).
            "stripe_js": f"{emu.config.base_url}/3ds/{pi['id']}",
        },
    }
    pi.update(status="requires_action", payment_method=pm["id"], next_action=next_action)
    emu.emit("payment_intent.requires_action", pi, ctx)
