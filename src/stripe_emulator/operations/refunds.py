"""Refunds: full or partial, never more than what remains on the charge."""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import StripeError, missing_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import format_amount
from stripe_emulator.objects.refund import build_refund
from stripe_emulator.params import as_enum, as_int, as_metadata, as_str, opt_str, reject_unknown
from stripe_emulator.store import StripeObject

CREATE_PARAMS = {
    "amount", "charge", "currency", "customer", "expand", "instructions_email", "metadata",
    "origin", "payment_intent", "reason", "refund_application_fee", "reverse_transfer",
}  # fmt: skip
LIST_PARAMS = {"charge", "created", "ending_before", "expand", "limit", "payment_intent",
               "starting_after"}  # fmt: skip
REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


def charge_for(emu: Emulator, params: dict[str, Any]) -> StripeObject:
    """The charge named by ``charge`` or by ``payment_intent`` (its latest charge)."""
    charge_id = opt_str(params.get("charge"), "charge")
    pi_id = opt_str(params.get("payment_intent"), "payment_intent")
    if not charge_id and not pi_id:
        raise missing_param("payment_intent")
    if charge_id:
        charge = emu.store.charges.get(charge_id)
        if charge is None:
            raise no_such("charge", charge_id, param="charge")
        if pi_id and charge["payment_intent"] != pi_id:
            raise StripeError(
                f"Charge {charge_id} does not belong to PaymentIntent {pi_id}.",
                param="payment_intent",
            )
        return charge
    assert pi_id is not None
    pi = emu.store.payment_intents.get(pi_id)
    if pi is None:
        raise no_such("payment_intent", pi_id, param="payment_intent")
    charge = emu.store.charges.get(pi["latest_charge"] or "")
    if pi["status"] != "succeeded" or charge is None:
        raise StripeError(
            f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
            param="payment_intent",
        )
    return charge


def _open_dispute(emu: Emulator, charge: StripeObject) -> StripeObject | None:
    for dispute in emu.store.disputes.values():
        if dispute["charge"] == charge["id"] and dispute["status"] != "won":
            return dispute
    return None


def create_refund(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, CREATE_PARAMS)
    charge = charge_for(emu, params)
    if charge["status"] != "succeeded":
        raise StripeError(
            f"Charge {charge['id']} has not succeeded (status {charge['status']}); "
            "only successful charges can be refunded.",
            param="charge",
        )
    if charge["disputed"] and _open_dispute(emu, charge) is not None:
        raise StripeError(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining
    if params.get("amount") not in (None, ""):
        amount = as_int(params["amount"], "amount", minimum=1)
    if amount > remaining:
        currency = charge["currency"]
        raise StripeError(
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded "
            f"amount on charge ({format_amount(remaining, currency)})",
            code="amount_too_large",
            param="amount",
        )
    reason = params.get("reason")
    refund = build_refund(
        created=emu.now(),
        amount=amount,
        charge=charge,
        reason=as_enum(reason, "reason", REASONS) if reason else None,
        metadata=as_metadata(params.get("metadata", {})),
    )
    emu.store.add(refund)
    previous = {
        "amount_refunded": charge["amount_refunded"],
        "refunded": charge["refunded"],
        "refunds": {"data": list(charge["refunds"]["data"])},
    }
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    charge["refunds"]["data"].insert(0, dict(refund))
    emu.emit("refund.created", refund, ctx)
    emu.emit("charge.refunded", charge, ctx, previous_attributes=previous)
    return refund


def get_refund(emu: Emulator, refund_id: str) -> StripeObject:
    refund = emu.store.refunds.get(refund_id)
    if refund is None:
        raise no_such("refund", refund_id)
    return refund


def list_refunds(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    created = created_matcher(params.get("created"))
    charge = params.get("charge")
    pi = params.get("payment_intent")
    return [
        r
        for r in emu.store.refunds.values()
        if created(r["created"])
        and (charge is None or r["charge"] == as_str(charge, "charge"))
        and (pi is None or r["payment_intent"] == as_str(pi, "payment_intent"))
    ]
