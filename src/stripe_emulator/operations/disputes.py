"""Disputes (chargebacks): opened and closed from the control API, as a bank would.

Opening emits ``charge.dispute.created`` and ``charge.dispute.funds_withdrawn``;
closing emits ``charge.dispute.funds_reinstated`` (won only) and
``charge.dispute.closed``.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.objects.dispute import build_dispute, dispute_balance_transaction
from stripe_emulator.operations.refunds import charge_for
from stripe_emulator.params import as_enum, as_int, opt_str
from stripe_emulator.store import StripeObject

REASONS = {
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
    "insufficient_funds", "noncompliant", "product_not_received", "product_unacceptable",
    "subscription_canceled", "unrecognized",
}  # fmt: skip


def get_dispute(emu: Emulator, dispute_id: str) -> StripeObject:
    dispute = emu.store.disputes.get(dispute_id)
    if dispute is None:
        raise no_such("dispute", dispute_id)
    return dispute


def create_dispute(emu: Emulator, params: dict[str, Any]) -> StripeObject:
    charge = charge_for(emu, params)
    if charge["status"] != "succeeded":
        raise StripeError(f"Charge {charge['id']} has not succeeded; it cannot be disputed.")
    if charge["disputed"]:
        raise StripeError(f"Charge {charge['id']} has already been disputed.", param="charge")
    disputable = charge["amount"] - charge["amount_refunded"]
    if disputable <= 0:
        raise StripeError(f"Charge {charge['id']} has been fully refunded; it cannot be disputed.")
    amount = disputable
    if params.get("amount") not in (None, ""):
        amount = as_int(params["amount"], "amount", minimum=1, maximum=disputable)
    reason = opt_str(params.get("reason"), "reason") or "fraudulent"
    now = emu.now()
    dispute = build_dispute(
        created=now, amount=amount, charge=charge, reason=as_enum(reason, "reason", REASONS)
    )
    emu.store.add(dispute)
    charge["disputed"] = True
    emu.emit("charge.dispute.created", dispute, AUTOMATIC)
    dispute["balance_transactions"].append(
        dispute_balance_transaction(created=now, dispute=dispute, withdrawn=True)
    )
    emu.emit("charge.dispute.funds_withdrawn", dispute, AUTOMATIC)
    return dispute


def close_dispute(emu: Emulator, dispute_id: str, outcome: str) -> StripeObject:
    dispute = get_dispute(emu, dispute_id)
    outcome = as_enum(outcome, "outcome", {"won", "lost"})
    if dispute["status"] in ("won", "lost"):
        raise StripeError(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute["status"] = outcome
    if outcome == "won":
        dispute["balance_transactions"].append(
            dispute_balance_transaction(created=emu.now(), dispute=dispute, withdrawn=False)
        )
        emu.emit("charge.dispute.funds_reinstated", dispute, AUTOMATIC)
    emu.emit("charge.dispute.closed", dispute, AUTOMATIC, previous_attributes=previous)
    return dispute
