"""Disputes (chargebacks): opened and decided as a bank would, answered as a merchant would.

Event sequences follow Stripe's:

- opened (the control API, or at once after paying with 4000 0000 0000 0259):
  ``charge.dispute.created``, ``charge.dispute.funds_withdrawn``; status
  ``needs_response``;
- evidence (``POST /v1/disputes/{id}``): ``charge.dispute.updated``; with
  ``submit`` (the default) the status becomes ``under_review``;
- the merchant accepts (``POST /v1/disputes/{id}/close``): status ``lost``,
  ``charge.dispute.closed``;
- the bank decides (control API): won -> ``charge.dispute.funds_reinstated``,
  ``charge.dispute.closed``; lost -> ``charge.dispute.closed``.

A dispute covers at most what is left on the charge after its refunds.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import AUTOMATIC, Emulator, RequestContext
from stripe_emulator.errors import StripeError, no_such
from stripe_emulator.objects.dispute import (
    EVIDENCE_FIELDS,
    build_dispute,
    dispute_balance_transaction,
)
from stripe_emulator.operations.refunds import charge_for
from stripe_emulator.params import (
    as_bool,
    as_dict,
    as_enum,
    as_int,
    as_str,
    opt_str,
    reject_unknown,
    updated_metadata,
)
from stripe_emulator.store import StripeObject

REASONS = {
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
    "insufficient_funds", "noncompliant", "product_not_received", "product_unacceptable",
    "subscription_canceled", "unrecognized",
}  # fmt: skip
UPDATE_PARAMS = {"evidence", "expand", "intended_submission_method", "metadata", "submit"}
SUBMISSION_METHODS = {"manual", "prefer_manual", "prefer_smart_disputes", "smart_disputes"}
# Statuses in which the merchant may still respond, and what submitting leads to.
_AWAITING_RESPONSE = {
    "needs_response": "under_review",
    "warning_needs_response": "warning_under_review",
}
_CLOSED = {"won", "lost", "warning_closed", "prevented"}


def get_dispute(emu: Emulator, dispute_id: str) -> StripeObject:
    dispute = emu.store.disputes.get(dispute_id)
    if dispute is None:
        raise no_such("dispute", dispute_id)
    return dispute


def create_dispute(emu: Emulator, params: dict[str, Any]) -> StripeObject:
    charge = charge_for(emu, params)
    amount = None
    if params.get("amount") not in (None, ""):
        amount = as_int(params["amount"], "amount", minimum=1)
    reason = opt_str(params.get("reason"), "reason") or "fraudulent"
    return open_dispute(emu, charge, amount, as_enum(reason, "reason", REASONS))


def open_dispute(
    emu: Emulator, charge: StripeObject, amount: int | None, reason: str
) -> StripeObject:
    """The cardholder's bank takes the money back: at most what is left after refunds."""
    if charge["status"] != "succeeded":
        raise StripeError(f"Charge {charge['id']} has not succeeded; it cannot be disputed.")
    if charge["disputed"]:
        raise StripeError(f"Charge {charge['id']} has already been disputed.", param="charge")
    disputable = charge["amount"] - charge["amount_refunded"]
    if disputable <= 0:
        raise StripeError(f"Charge {charge['id']} has been fully refunded; it cannot be disputed.")
    if amount is not None and amount > disputable:
        raise StripeError(
            f"The dispute amount ({amount}) is more than what is left on charge "
            f"{charge['id']} after refunds ({disputable}).",
            param="amount",
        )
    now = emu.now()
    dispute = build_dispute(created=now, amount=amount or disputable, charge=charge, reason=reason)
    emu.store.add(dispute)
    charge["disputed"] = True
    emu.emit("charge.dispute.created", dispute, AUTOMATIC)
    dispute["balance_transactions"].append(
        dispute_balance_transaction(created=now, dispute=dispute, withdrawn=True)
    )
    emu.emit("charge.dispute.funds_withdrawn", dispute, AUTOMATIC)
    return dispute


def _awaiting_response(dispute: StripeObject) -> None:
    if dispute["status"] not in _AWAITING_RESPONSE:
        raise StripeError(
            f"This dispute is {dispute['status'].replace('_', ' ')}; it no longer accepts "
            "evidence or a response."
        )


def _evidence(raw: Any) -> dict[str, Any]:
    evidence = as_dict(raw, "evidence")
    reject_unknown(evidence, {*EVIDENCE_FIELDS, "enhanced_evidence"}, "evidence")
    result: dict[str, Any] = {}
    for key, value in evidence.items():
        if key == "enhanced_evidence":
            result[key] = as_dict(value, "evidence[enhanced_evidence]")
        else:
            # An empty value clears a field, as on Stripe.
            text = as_str(value, f"evidence[{key}]", max_length=20_000)
            result[key] = text or None
    return result


def update_dispute(
    emu: Emulator, dispute_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    """Stage or submit evidence; ``submit`` defaults to true on this API version."""
    dispute = get_dispute(emu, dispute_id)
    reject_unknown(params, UPDATE_PARAMS)
    _awaiting_response(dispute)
    # Read every parameter before changing anything: a bad one changes nothing.
    evidence = _evidence(params.get("evidence", {}))
    submit = as_bool(params.get("submit", True), "submit")
    changes: dict[str, Any] = {}
    if "metadata" in params:
        changes["metadata"] = updated_metadata(dispute["metadata"], params["metadata"])
    if params.get("intended_submission_method") not in (None, ""):
        changes["intended_submission_method"] = as_enum(
            params["intended_submission_method"], "intended_submission_method", SUBMISSION_METHODS
        )
    previous: dict[str, Any] = {k: dispute[k] for k, v in changes.items() if dispute[k] != v}
    dispute.update(changes)
    changed = {k: v for k, v in evidence.items() if dispute["evidence"].get(k) != v}
    if changed:
        previous["evidence"] = {k: dispute["evidence"].get(k) for k in changed}
        dispute["evidence"].update(changed)
    details = dispute["evidence_details"]
    has_evidence = any(dispute["evidence"].get(k) for k in EVIDENCE_FIELDS)
    details_before = dict(details)
    details["has_evidence"] = has_evidence
    if submit:
        previous["status"] = dispute["status"]
        dispute["status"] = _AWAITING_RESPONSE[dispute["status"]]
        details["submission_count"] += 1
    changed_details = {k: v for k, v in details_before.items() if details[k] != v}
    if changed_details:
        previous["evidence_details"] = changed_details
    if previous:
        emu.emit("charge.dispute.updated", dispute, ctx, previous_attributes=previous)
    return dispute


def submit_evidence(emu: Emulator, dispute_id: str, evidence: Any) -> StripeObject:
    """The control API's shortcut: submit (default: a short text) as the merchant would."""
    given = evidence if evidence not in (None, {}) else {"uncategorized_text": "Evidence"}
    params = {"evidence": given, "submit": True}
    return update_dispute(emu, dispute_id, params, AUTOMATIC)


def accept_dispute(emu: Emulator, dispute_id: str, ctx: RequestContext) -> StripeObject:
    """``POST /v1/disputes/{id}/close``: the merchant gives up; the dispute is lost."""
    dispute = get_dispute(emu, dispute_id)
    _awaiting_response(dispute)
    previous = {"status": dispute["status"]}
    dispute["status"] = "lost" if dispute["status"] == "needs_response" else "warning_closed"
    emu.emit("charge.dispute.closed", dispute, ctx, previous_attributes=previous)
    return dispute


def close_dispute(emu: Emulator, dispute_id: str, outcome: str) -> StripeObject:
    """The bank's decision (control API): ``won`` reinstates the funds, ``lost`` keeps them."""
    dispute = get_dispute(emu, dispute_id)
    outcome = as_enum(outcome, "outcome", {"won", "lost"})
    if dispute["status"] in _CLOSED:
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
