"""Refunds: full or partial, never more than what remains on the charge.

Event sequences follow Stripe's:

- every refund: ``refund.created``, then ``charge.refunded`` (the charge with the new
  ``amount_refunded``, ``refunded`` and ``refunds`` list);
- a card refund succeeds at once; a bank-debit refund (``bacs_debit``, ...) starts
  ``pending`` and succeeds ``config.refund_delay`` (60) seconds later on the emulator's
  clock (or at once through the control API): ``refund.updated``,
  ``charge.refund.updated``;
- a refund of a charge paid with 4000 0000 0000 5126 succeeds, then fails
  ``config.refund_delay`` seconds later (or at once through the control API):
  ``refund.updated``, ``refund.failed``, ``charge.refund.updated``; the charge's
  ``amount_refunded`` goes back down. Any pending or succeeded refund can be failed
  through the control API.

Delayed changes are due times kept in ``store.private[refund_id]["timer"]`` and run by
:func:`run_due_refunds` (clock advance, the background sweep, reads of refunds and
charges), so they persist with the rest of the state and need no task of their own.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, missing_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import format_amount
from stripe_emulator.objects.refund import FAILURE_REASONS, build_refund, set_refund_status
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
    card_refund = charge["payment_method_details"]["type"] == "card"
    refund = build_refund(
        created=emu.now(),
        amount=amount,
        charge=charge,
        reason=as_enum(reason, "reason", REASONS) if reason else None,
        metadata=as_metadata(params.get("metadata", {})),
        status="succeeded" if card_refund else "pending",
    )
    emu.store.add(refund)
    if not card_refund:
        _schedule(emu, refund, "succeeded")
    elif emu.store.private.get(charge["id"], {}).get("refunds_fail"):
        _schedule(emu, refund, "failed")
    previous = {
        "amount_refunded": charge["amount_refunded"],
        "refunded": charge["refunded"],
        "refunds": {"data": copy.deepcopy(charge["refunds"]["data"])},
    }
    # Pending refunds count as refunded on the charge, as on Stripe.
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
    emu.emit("refund.created", refund, ctx)
    emu.emit("charge.refunded", charge, ctx, previous_attributes=previous)
    return refund


# A refund can still fail while on its way, and even after it succeeded (a closed card).
_MAY_FAIL = {"pending", "requires_action", "succeeded"}


def _schedule(emu: Emulator, refund: StripeObject, outcome: str) -> None:
    timer = {"due_at": emu.now() + emu.config.refund_delay, "outcome": outcome}
    emu.store.private.setdefault(refund["id"], {})["timer"] = timer


def _refund(emu: Emulator, refund_id: str) -> StripeObject:
    refund = emu.store.refunds.get(refund_id)
    if refund is None:
        raise no_such("refund", refund_id)
    return refund


def _change_status(
    emu: Emulator, refund: StripeObject, status: str, failure_reason: str | None = None
) -> StripeObject:
    emu.store.private.setdefault(refund["id"], {})["timer"] = None
    previous = set_refund_status(refund, status, failure_reason)
    charge = emu.store.charges[refund["charge"]]
    if status == "failed":
        # The money never left: it no longer counts as refunded on the charge.
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    embedded = charge["refunds"]["data"]
    for index, copy_ in enumerate(embedded):
        if copy_["id"] == refund["id"]:
            embedded[index] = copy.deepcopy(refund)
    emu.emit("refund.updated", refund, AUTOMATIC, previous_attributes=previous)
    if status == "failed":
        emu.emit("refund.failed", refund, AUTOMATIC)
    emu.emit("charge.refund.updated", refund, AUTOMATIC, previous_attributes=previous)
    return refund


def succeed_refund(emu: Emulator, refund_id: str) -> StripeObject:
    """A pending refund reaches the customer (the bank confirms it)."""
    refund = _refund(emu, refund_id)
    if refund["status"] != "pending":
        raise StripeError(
            f"Refund {refund_id} is not pending (status {refund['status']}); "
            "only a pending refund can succeed."
        )
    return _change_status(emu, refund, "succeeded")


def fail_refund(emu: Emulator, refund_id: str, reason: str | None = None) -> StripeObject:
    """A pending or succeeded refund bounces: the card is closed, the bank refuses it."""
    refund = _refund(emu, refund_id)
    if refund["status"] not in _MAY_FAIL:
        raise StripeError(f"Refund {refund_id} has already {refund['status']}; it cannot fail.")
    if reason:
        reason = as_enum(reason, "failure_reason", FAILURE_REASONS)
    elif refund["destination_details"]["type"] == "card":
        reason = "expired_or_canceled_card"
    else:
        reason = "declined"
    return _change_status(emu, refund, "failed", reason)


def run_due_refunds(emu: Emulator) -> int:
    """Settle or fail every refund whose delay has passed; returns how many changed."""
    now = emu.now()
    due = sorted(
        (timer["due_at"], emu.store.order(refund_id) or 0, refund_id, timer["outcome"])
        for refund_id, private in emu.store.private.items()
        if refund_id.startswith("re_")
        and (timer := private.get("timer"))
        and timer["due_at"] <= now
    )
    changed = 0
    for _, _, refund_id, outcome in due:
        refund = emu.store.refunds.get(refund_id)
        still_applies = refund is not None and (
            refund["status"] in _MAY_FAIL if outcome == "failed" else refund["status"] == "pending"
        )
        if not still_applies:
            # Overtaken (state restored from elsewhere, say): drop the timer, do not raise.
            emu.store.private[refund_id]["timer"] = None
            continue
        if outcome == "failed":
            fail_refund(emu, refund_id)
        else:
            succeed_refund(emu, refund_id)
        changed += 1
    return changed


def get_refund(emu: Emulator, refund_id: str) -> StripeObject:
    run_due_refunds(emu)
    return _refund(emu, refund_id)


def list_refunds(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, LIST_PARAMS)
    run_due_refunds(emu)
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
