"""PaymentIntents created by the integration: create, confirm (on- or off-session), cancel.

The charge itself is :func:`card_payments.confirm_card`; this module reads parameters as
Stripe reads them and checks the PaymentMethod may be used (see ``payment_methods``).

Event sequences: ``payment_intent.created`` (the create call), then on confirmation the
outcome's events (``charge.succeeded`` + ``payment_intent.succeeded``, or
``charge.failed`` + ``payment_intent.payment_failed`` with a 402 ``card_error``, or
``payment_intent.requires_action``); ``payment_intent.canceled`` on cancel.

:func:`charge_saved_card` is the same path for code inside the emulator that charges a
customer's saved card off-session (a subscription renewal, for instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.money import MINIMUM_CHARGE, SUPPORTED, format_amount
from stripe_emulator.objects.payments import build_payment_intent
from stripe_emulator.operations import payment_methods
from stripe_emulator.operations.card_payments import after_payment, confirm_card
from stripe_emulator.operations.customers import get_customer
from stripe_emulator.operations.line_items import MAX_AMOUNT
from stripe_emulator.params import (
    as_bool,
    as_email,
    as_enum,
    as_int,
    as_list,
    as_metadata,
    as_str,
    opt_str,
    reject_unknown,
    require,
)
from stripe_emulator.store import StripeObject

_USED = {
    "amount", "automatic_payment_methods", "capture_method", "confirm", "confirmation_method",
    "currency", "customer", "description", "error_on_requires_action", "expand", "metadata",
    "off_session", "payment_method", "payment_method_types", "receipt_email",
    "setup_future_usage", "statement_descriptor", "statement_descriptor_suffix",
}  # fmt: skip
# Accepted and without effect here (no redirect ever happens; options are card defaults).
_COSMETIC = {"mandate_data", "payment_method_options", "radar_options", "return_url",
             "use_stripe_sdk"}  # fmt: skip
CREATE_PARAMS = _USED | _COSMETIC | {"application_fee_amount", "on_behalf_of", "shipping",
                                     "transfer_data", "transfer_group"}  # fmt: skip
CONFIRM_PARAMS = {"error_on_requires_action", "expand", "mandate_data", "off_session",
                  "payment_method", "payment_method_options", "receipt_email", "return_url",
                  "setup_future_usage", "use_stripe_sdk"}  # fmt: skip
CANCEL_PARAMS = {"cancellation_reason", "expand"}
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation",
               "requires_action", "processing")  # fmt: skip
CANCELLATION_REASONS = {"abandoned", "duplicate", "fraudulent", "requested_by_customer"}
FUTURE_USAGES = {"off_session", "on_session"}


@dataclass
class ChargeResult:
    """What charging a saved card came to: the intent, its charge, the card error if any."""

    payment_intent: StripeObject
    charge: StripeObject | None
    error: StripeError | None

    @property
    def succeeded(self) -> bool:
        return self.payment_intent["status"] == "succeeded"


def get_payment_intent(emu: Emulator, pi_id: str) -> StripeObject:
    pi = emu.store.payment_intents.get(pi_id)
    if pi is None:
        raise no_such("payment_intent", pi_id)
    return pi


def _require_status(pi: StripeObject, verb: tuple[str, str], allowed: tuple[str, ...]) -> None:
    if pi["status"] not in allowed:
        raise StripeError(
            f"You cannot {verb[0]} this PaymentIntent because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"{verb[1]}: {', '.join(allowed)}.",
            code="payment_intent_unexpected_state",
        )


def _amount(params: dict[str, Any], currency: str) -> int:
    amount = as_int(require(params, "amount"), "amount", minimum=1, maximum=MAX_AMOUNT)
    minimum = MINIMUM_CHARGE.get(currency, 50)
    if amount < minimum:
        raise StripeError(
            f"Amount must be at least {format_amount(minimum, currency)} {currency}",
            code="amount_too_small",
            param="amount",
        )
    return amount


def _off_session(value: Any) -> bool:
    # Stripe takes a boolean, or "one_off" / "recurring" (both off-session).
    if value in ("one_off", "recurring"):
        return True
    return as_bool(value, "off_session")


def _refuse_connect(params: dict[str, Any]) -> None:
    for key in sorted(CREATE_PARAMS - _USED - _COSMETIC):
        if params.get(key) not in (None, ""):
            raise invalid_param(key, f"The Stripe emulator does not support `{key}`.")


def create_payment_intent(
    emu: Emulator, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """``POST /v1/payment_intents``; with ``confirm=true`` it is charged at once (402 if not)."""
    reject_unknown(params, CREATE_PARAMS)
    _refuse_connect(params)
    currency = as_str(require(params, "currency"), "currency").lower()
    if currency not in SUPPORTED:
        raise invalid_param("currency", f"Invalid currency: {currency}.")
    amount = _amount(params, currency)
    capture = params.get("capture_method")
    if capture not in (None, "", "automatic", "automatic_async"):
        raise invalid_param("capture_method", "The emulator supports only automatic capture.")
    confirm = as_bool(params.get("confirm", "false"), "confirm")
    if params.get("off_session") not in (None, "") and not confirm:
        raise invalid_param("off_session", "`off_session` can only be used with `confirm=true`.")
    customer_id = opt_str(params.get("customer"), "customer")
    if customer_id:
        get_customer(emu, customer_id, param="customer")
    pm = None
    if params.get("payment_method") not in (None, ""):
        pm_ref = as_str(params["payment_method"], "payment_method")
        pm = payment_methods.resolve_payment_method(emu, pm_ref)
        payment_methods.check_usable(emu, pm, customer_id)
    types = params.get("payment_method_types")
    method_types = ["card"]
    if types not in (None, ""):
        method_types = [as_str(v, f"payment_method_types[{i}]") for i, v in
                        enumerate(as_list(types, "payment_method_types"))]  # fmt: skip
        if method_types != ["card"]:
            raise invalid_param(
                "payment_method_types", "The Stripe emulator's PaymentIntents take only card."
            )
    usage = params.get("setup_future_usage")
    receipt = params.get("receipt_email")
    pi = build_payment_intent(
        created=emu.now(),
        amount=amount,
        currency=currency,
        customer=customer_id,
        description=opt_str(params.get("description"), "description", max_length=1000),
        metadata=as_metadata(params.get("metadata", {})),
        receipt_email=as_email(receipt, "receipt_email") if receipt else None,
        payment_method_types=method_types,
        statement_descriptor=opt_str(
            params.get("statement_descriptor"), "statement_descriptor", max_length=22
        ),
        statement_descriptor_suffix=opt_str(
            params.get("statement_descriptor_suffix"), "statement_descriptor_suffix", max_length=22
        ),
        setup_future_usage=as_enum(usage, "setup_future_usage", FUTURE_USAGES) if usage else None,
        # Without an explicit list Stripe enables the Dashboard's methods (card, here).
        automatic_payment_methods=None
        if types not in (None, "")
        else {"allow_redirects": "always", "enabled": True},
        confirmation_method=as_enum(
            params.get("confirmation_method") or "automatic",
            "confirmation_method",
            {"automatic", "manual"},
        ),
    )
    if pm is not None:
        pi.update(payment_method=pm["id"], status="requires_confirmation")
    emu.store.add(pi)
    emu.emit("payment_intent.created", pi, ctx)
    if confirm:
        _confirm(emu, pi, params, ctx)
    return pi


def confirm_payment_intent(
    emu: Emulator, pi_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """``POST /v1/payment_intents/{id}/confirm``."""
    reject_unknown(params, CONFIRM_PARAMS)
    pi = get_payment_intent(emu, pi_id)
    _require_status(pi, ("confirm", "confirmed"), _CONFIRMABLE)
    if params.get("payment_method") not in (None, ""):
        pm = payment_methods.resolve_payment_method(
            emu, as_str(params["payment_method"], "payment_method")
        )
        payment_methods.check_usable(emu, pm, pi["customer"])
        pi["payment_method"] = pm["id"]
    if params.get("setup_future_usage"):
        usage = params["setup_future_usage"]
        pi["setup_future_usage"] = as_enum(usage, "setup_future_usage", FUTURE_USAGES)
    if params.get("receipt_email"):
        pi["receipt_email"] = as_email(params["receipt_email"], "receipt_email")
    _confirm(emu, pi, params, ctx)
    return pi


def _confirm(emu: Emulator, pi: StripeObject, params: dict[str, Any], ctx: RequestContext) -> None:
    if not pi["payment_method"]:
        raise StripeError(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "Specify a payment method (`payment_method`) to confirm it with.",
            code="payment_intent_unexpected_state",
            param="payment_method",
        )
    pm = payment_methods.get_payment_method(emu, pi["payment_method"], param="payment_method")
    off_session = params.get("off_session") not in (None, "") and _off_session(
        params["off_session"]
    )
    error = confirm_card(
        emu,
        pi,
        pm,
        off_session=off_session,
        error_on_requires_action=as_bool(
            params.get("error_on_requires_action", "false"), "error_on_requires_action"
        ),
        ctx=ctx,
    )
    if error is not None:
        raise error
    after_payment(emu, pi)


def cancel_payment_intent(
    emu: Emulator, pi_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """``POST /v1/payment_intents/{id}/cancel``."""
    reject_unknown(params, CANCEL_PARAMS)
    pi = get_payment_intent(emu, pi_id)
    _require_status(pi, ("cancel", "canceled"), _CANCELABLE)
    reason = params.get("cancellation_reason")
    pi.update(
        status="canceled",
        canceled_at=emu.now(),
        cancellation_reason=as_enum(reason, "cancellation_reason", CANCELLATION_REASONS)
        if reason
        else None,
        next_action=None,
    )
    emu.emit("payment_intent.canceled", pi, ctx)
    return pi


def charge_saved_card(
    emu: Emulator,
    *,
    customer: str,
    payment_method: str,
    amount: int,
    currency: str,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    ctx: RequestContext = AUTOMATIC,
) -> ChargeResult:
    """Charge a customer's saved card off-session, as ``off_session=true, confirm=true`` does.

    Never raises for a decline: the result carries the card error (the intent is then
    ``requires_payment_method``). Raises :class:`StripeError` for what Stripe would refuse
    before trying (an unknown customer or card, a card of another customer, a detached one).
    """
    get_customer(emu, customer, param="customer")
    pm = payment_methods.get_payment_method(emu, payment_method, param="payment_method")
    payment_methods.check_usable(emu, pm, customer)
    if pm["customer"] != customer:
        raise StripeError(
            f"PaymentMethod {payment_method} is not saved to Customer {customer}.",
            param="payment_method",
        )
    pi = build_payment_intent(
        created=emu.now(),
        amount=amount,
        currency=currency,
        customer=customer,
        description=description,
        metadata=dict(metadata or {}),
        receipt_email=None,
        payment_method_types=["card"],
    )
    pi.update(payment_method=pm["id"], status="requires_confirmation")
    emu.store.add(pi)
    emu.emit("payment_intent.created", pi, ctx)
    error = confirm_card(emu, pi, pm, off_session=True, ctx=ctx)
    if error is None:
        after_payment(emu, pi)
    charge = emu.store.charges.get(pi["latest_charge"] or "")
    return ChargeResult(payment_intent=pi, charge=charge, error=error)
