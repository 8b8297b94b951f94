"""The ``customer`` object."""

from __future__ import annotations

import secrets
from typing import Any

from stripe_emulator.ids import new_id


def build_customer(
    *,
    created: int,
    email: str | None = None,
    name: str | None = None,
    description: str | None = None,
    phone: str | None = None,
    metadata: dict[str, str] | None = None,
    preferred_locales: list[str] | None = None,
    address: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": address,
        "balance": 0,
        "created": created,
        # Stripe sets the currency on a customer's first charge.
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": preferred_locales or [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
