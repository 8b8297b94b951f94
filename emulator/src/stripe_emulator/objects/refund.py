"""The ``refund`` object.

Stripe sends ``pending_reason`` only while a refund is pending, and
``failure_reason`` / ``failure_balance_transaction`` only once it has failed;
:func:`set_refund_status` keeps those keys in step with ``status``.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id

# Refund.failure_reason values (Stripe's API reference).
FAILURE_REASONS = {
    "charge_for_pending_refund_disputed", "declined", "expired_or_canceled_card",
    "insufficient_funds", "lost_or_stolen_card", "merchant_request", "unknown",
}  # fmt: skip


def build_refund(
    *,
    created: int,
    amount: int,
    charge: dict[str, Any],
    reason: str | None,
    metadata: dict[str, str],
    status: str = "succeeded",
) -> dict[str, Any]:
    method_type = charge["payment_method_details"]["type"]
    if method_type == "card":
        destination: dict[str, Any] = {
            "reference": None,
            "reference_status": "pending",
            "reference_type": "acquirer_reference_number",
            "type": "refund",
        }
    else:
        destination = {}
    refund = {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": None,
        "destination_details": {"type": method_type, method_type: destination},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    set_refund_status(refund, status)
    return refund


def set_refund_status(
    refund: dict[str, Any], status: str, failure_reason: str | None = None
) -> dict[str, Any]:
    """Move ``refund`` to ``status``; returns the changed fields' previous values."""
    previous: dict[str, Any] = {"status": refund["status"]}
    refund["status"] = status
    if "pending_reason" in refund:
        previous["pending_reason"] = refund.pop("pending_reason")
    if status == "pending":
        refund["pending_reason"] = "processing"
    if status == "failed":
        # The money comes back to the merchant's balance in a second transaction.
        refund["failure_balance_transaction"] = new_id("txn_")
        refund["failure_reason"] = failure_reason or "unknown"
        previous["failure_balance_transaction"] = None
        previous["failure_reason"] = None
    return previous
