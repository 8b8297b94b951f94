"""``payment_intent`` and ``charge`` objects."""

from __future__ import annotations

from typing import Any

from stripe_emulator.cards import TestCard
from stripe_emulator.ids import new_id, random_chars
from stripe_emulator.objects.payment_method import card_checks


def build_payment_intent(
    *,
    created: int,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None,
    metadata: dict[str, str],
    receipt_email: str | None,
    payment_method_types: list[str],
    allowed_payment_method_types: list[str] | None = None,
    statement_descriptor: str | None = None,
    statement_descriptor_suffix: str | None = None,
    setup_future_usage: str | None = None,
    automatic_payment_methods: dict[str, Any] | None = None,
    confirmation_method: str = "automatic",
) -> dict[str, Any]:
    pi_id = new_id("pi_")
    return {
        "id": pi_id,
        "object": "payment_intent",
        # The filter the integration passed (null: none), as on API 2026-10-28.
        "allowed_payment_method_types": allowed_payment_method_types,
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic_payment_methods,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{random_chars(25)}",
        "confirmation_method": confirmation_method,
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types,
        # The Payment Record Stripe keeps for a successful payment; null until paid.
        "payment_record": None,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def card_details(
    card: TestCard, exp_month: int, exp_year: int, *, authenticated: bool = False
) -> dict[str, Any]:
    """``payment_method_details.card`` of a charge (``authenticated``: 3D Secure ran)."""
    return {
        "amount_authorized": None,
        "authorization_code": None,
        "brand": card.brand,
        "checks": card_checks(),
        "country": card.country,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card.fingerprint,
        "funding": card.funding,
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card.last4,
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": card.brand,
        "network_token": {"used": False},
        "network_transaction_id": random_chars(15),
        "overcapture": {"maximum_amount_capturable": 0, "status": "unavailable"},
        "regulated_status": "unregulated",
        "three_d_secure": _three_d_secure() if authenticated else None,
        "transaction_link_id": None,
        "wallet": None,
    }


def _three_d_secure() -> dict[str, Any]:
    return {
        "authentication_flow": "challenge",
        "electronic_commerce_indicator": "05",
        "exemption_indicator": None,
        "exemption_indicator_applied": False,
        "result": "authenticated",
        "result_reason": None,
        "transaction_id": random_chars(36),
        "version": "2.2.0",
    }


def bank_debit_details(method_type: str) -> dict[str, Any]:
    """``payment_method_details.<bank debit>``; Bacs shape, good enough for the others."""
    return {
        "fingerprint": random_chars(16),
        "last4": "2345",
        "mandate": new_id("mandate_"),
        "sort_code": "108800" if method_type == "bacs_debit" else None,
    }


def build_charge(
    *,
    created: int,
    payment_intent: dict[str, Any],
    payment_method: dict[str, Any],
    status: str,
    receipt_base_url: str,
    method_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A charge for the whole PaymentIntent amount.

    ``status`` is ``succeeded`` for cards and ``pending`` for bank debits until they
    settle (a declined card's is then set by :func:`mark_declined`). ``method_details``
    is ``payment_method_details[type]`` (default: the PaymentMethod's own hash).
    ``refunds`` is included as Stripe's fixture shows it.
    """
    charge_id = new_id("ch_")
    paid = status == "succeeded"
    method_type = payment_method["type"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": payment_intent["amount"],
        "amount_captured": payment_intent["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if paid else None,
        "billing_details": dict(payment_method["billing_details"]),
        "calculated_statement_descriptor": "STRIPE EMULATOR",
        "captured": True,
        "created": created,
        "currency": payment_intent["currency"],
        "customer": payment_intent["customer"],
        "description": payment_intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        # Charges carry a copy of their PaymentIntent's metadata, as on Stripe.
        "metadata": dict(payment_intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": paid,
        "payment_intent": payment_intent["id"],
        "payment_method": payment_method["id"],
        "payment_method_details": {
            "type": method_type,
            method_type: method_details or payment_method[method_type],
        },
        "radar_options": {},
        "receipt_email": payment_intent["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"{receipt_base_url}/receipts/{charge_id}",
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{charge_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": payment_intent["statement_descriptor"],
        "statement_descriptor_suffix": payment_intent["statement_descriptor_suffix"],
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def mark_declined(
    charge: dict[str, Any], code: str, decline_code: str | None, message: str
) -> None:
    """A charge the card's issuer declined: nothing captured, Stripe's decline outcome."""
    reason = decline_code or code
    charge.update(
        status="failed",
        paid=False,
        captured=False,
        amount_captured=0,
        balance_transaction=None,
        failure_code=code,
        failure_message=message,
        receipt_url=None,
        outcome={
            **charge["outcome"],
            "network_status": "declined_by_network",
            "reason": reason,
            "seller_message": f"The bank returned the decline code `{reason}`.",
            "type": "issuer_declined",
        },
    )
