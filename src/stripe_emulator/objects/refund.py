"""The ``refund`` object."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id


def build_refund(
    *,
    created: int,
    amount: int,
    charge: dict[str, Any],
    reason: str | None,
    metadata: dict[str, str],
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
    return {
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
