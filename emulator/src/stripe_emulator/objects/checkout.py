"""The ``checkout.session`` object and its line items."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id
from stripe_emulator.objects.common import empty_address


def build_line_item(
    *,
    created: int,
    currency: str,
    unit_amount: int,
    quantity: int,
    name: str,
    product_id: str,
) -> dict[str, Any]:
    amount = unit_amount * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "adjustable_quantity": None,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": currency,
        # Stripe shows the product's name as the line item description.
        "description": name,
        "metadata": {},
        "price": {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": created,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product_id,
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        },
        "quantity": quantity,
    }


def build_session(
    *,
    created: int,
    expires_at: int,
    url: str,
    currency: str | None,
    amount_total: int | None,
    mode: str = "payment",
    customer: str | None = None,
    customer_email: str | None = None,
    client_reference_id: str | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
    metadata: dict[str, str] | None = None,
    payment_method_types: list[str] | None = None,
    allowed_payment_method_types: list[str] | None = None,
    locale: str | None = None,
    submit_type: str | None = None,
    billing_address_collection: str | None = None,
    allow_promotion_codes: bool | None = None,
    phone_number_collection: bool = False,
    customer_creation: str | None = None,
) -> dict[str, Any]:
    """A new open session; in setup mode there are no amounts and nothing to pay."""
    setup = mode == "setup"
    return {
        "id": new_id("cs_test_"),
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": allow_promotion_codes,
        # The filter the integration passed (null: none), as on API 2026-10-28.
        "allowed_payment_method_types": allowed_payment_method_types,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": billing_address_collection,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_account": None,
        "customer_creation": customer_creation,
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": False,
        "locale": locale,
        "managed_payments": None,
        "metadata": metadata or {},
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if setup else "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": payment_method_types or ["card"],
        "payment_status": "no_payment_required" if setup else "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": phone_number_collection},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": submit_type,
        "subscription": None,
        "success_url": success_url,
        "total_details": None
        if setup
        else {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        # API 2026-10-28 names Stripe's hosted page "hosted_page" (formerly "hosted").
        "ui_mode": "hosted_page",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str | None, name: str | None) -> dict[str, Any]:
    """What Checkout collected from the payer, set when the session completes."""
    return {
        "address": empty_address(country="GB"),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def mark_complete(
    session: dict[str, Any], email: str | None, name: str | None, payment_status: str
) -> None:
    """The payer finished: the session is complete and its page closed."""
    session.update(
        status="complete",
        payment_status=payment_status,
        customer_details=customer_details(email, name),
        url=None,
    )
