"""The ``subscription_schedule`` object and its phases."""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.ids import new_id


def build_phase(
    *,
    price: dict[str, Any],
    quantity: int,
    start: int,
    end: int,
    proration_behavior: str = "create_prorations",
) -> dict[str, Any]:
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": price["currency"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": {},
                "plan": price["id"],
                "price": price["id"],
                "quantity": quantity,
                "tax_rates": [],
            }
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def build_schedule(
    *, created: int, subscription: dict[str, Any], phase: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": new_id("sub_sched_"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": copy.deepcopy(subscription["billing_mode"]),
        "canceled_at": None,
        "completed_at": None,
        "created": created,
        "current_phase": {"end_date": phase["end_date"], "start_date": phase["start_date"]},
        "customer": subscription["customer"],
        "customer_account": None,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "custom_fields": None,
                "days_until_due": None,
                "description": None,
                "footer": None,
                "issuer": {"type": "self"},
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": [phase],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": subscription["id"],
        "test_clock": subscription["test_clock"],
    }
