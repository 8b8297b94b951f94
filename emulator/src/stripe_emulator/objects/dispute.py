"""The ``dispute`` object and the balance transactions a dispute moves."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id

# The free-text / file-id evidence fields (``enhanced_evidence`` is a hash of its own).
EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy",
    "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
    "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
    "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
    "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address",
    "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
    "uncategorized_file", "uncategorized_text",
)  # fmt: skip

# Stripe's dispute fee in the UK.
DISPUTE_FEE = 2000


def build_dispute(
    *, created: int, amount: int, charge: dict[str, Any], reason: str
) -> dict[str, Any]:
    details = charge["payment_method_details"]
    card = details.get("card") or {}
    evidence: dict[str, Any] = dict.fromkeys(EVIDENCE_FIELDS)
    evidence["enhanced_evidence"] = {}
    return {
        "id": new_id("du_"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": created + 7 * 24 * 3600,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        # Set through ``POST /v1/disputes/{id}``; null until then (API 2026-10-28).
        "intended_submission_method": None,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "type": details["type"],
            details["type"]: {
                "brand": card.get("brand"),
                "case_type": "chargeback",
                "network": card.get("network"),
                "network_reason_code": "10.4",
            }
            if details["type"] == "card"
            else {},
        },
        "reason": reason,
        "status": "needs_response",
    }


def dispute_balance_transaction(
    *, created: int, dispute: dict[str, Any], withdrawn: bool
) -> dict[str, Any]:
    """Money leaving (funds withdrawn) or returning (funds reinstated) for a dispute."""
    sign = -1 if withdrawn else 1
    fee = DISPUTE_FEE if withdrawn else 0
    amount = sign * dispute["amount"]
    return {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "created": created,
        "currency": dispute["currency"],
        "description": "Chargeback withdrawal for " + dispute["charge"]
        if withdrawn
        else "Chargeback reversal for " + dispute["charge"],
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": dispute["currency"],
                "description": "Dispute fee",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": "dispute" if withdrawn else "dispute_reversal",
        "source": dispute["id"],
        "status": "available",
        "type": "adjustment",
    }
