"""The ``setup_intent`` object: saving a payment method for later, without paying."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id, random_chars


def build_setup_intent(
    *,
    created: int,
    customer: str | None,
    description: str | None,
    metadata: dict[str, str],
    payment_method_types: list[str],
    usage: str = "off_session",
) -> dict[str, Any]:
    seti_id = new_id("seti_")
    return {
        "id": seti_id,
        "object": "setup_intent",
        # The filter the integration passed (null: none), as on API 2026-10-28.
        "allowed_payment_method_types": None,
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{seti_id}_secret_{random_chars(32)}",
        "created": created,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": usage,
    }
