"""The ``invoice``, invoice ``line_item`` and ``invoice_payment`` objects.

On this API version an invoice names its subscription under
``parent.subscription_details.subscription`` (the top-level ``subscription``, which
Stripe's older fixtures still show, was removed in 2025-03-31.basil), and its payments are
``invoice_payment`` objects, included only when ``payments`` is expanded, instead of the
removed ``payment_intent`` / ``charge`` fields.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id


def build_invoice_line(
    *,
    invoice_id: str,
    subscription_item: dict[str, Any],
    description: str,
    start: int,
    end: int,
) -> dict[str, Any]:
    price = subscription_item["price"]
    amount = price["unit_amount"] * subscription_item["quantity"]
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription_item["subscription"],
                "subscription_item": subscription_item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": subscription_item["quantity"],
        "quantity_decimal": str(subscription_item["quantity"]),
        # Deprecated in 2025-03-31.basil for parent.subscription_item_details, still sent.
        "subscription": subscription_item["subscription"],
        "subtotal": amount,
        "taxes": [],
    }


def build_invoice(
    *,
    created: int,
    customer: dict[str, Any],
    subscription: dict[str, Any],
    billing_reason: str,
    period_start: int,
    period_end: int,
) -> dict[str, Any]:
    invoice_id = new_id("in_")
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "GB",
        "account_name": "Stripe emulator",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": subscription["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
                "subscription_proration_date": None,
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": subscription["test_clock"],
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def set_amounts(invoice: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    """Totals from the lines (no tax, no discount): what is due and still to pay."""
    total = sum(line["amount"] for line in lines)
    invoice.update(
        amount_due=total,
        amount_remaining=total - invoice["amount_paid"],
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
    )


def build_invoice_payment(
    *, created: int, invoice: dict[str, Any], payment_intent_id: str
) -> dict[str, Any]:
    return {
        "id": new_id("inpay_"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_remaining"],
        "created": created,
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
