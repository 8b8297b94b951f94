"""The ``coupon`` object, and the ``discount`` a coupon becomes once applied.

``percent_off`` is a JSON number as on Stripe (``25.5``, ``20.0``); the amounts it takes off
are computed from its exact decimal value, never from a float (see ``operations.discounts``).
``applies_to`` and ``currency_options`` are includable fields on Stripe (absent unless
expanded) and are not emulated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripe_emulator.ids import new_id, random_chars


def build_coupon(
    *,
    created: int,
    coupon_id: str | None,
    percent_off: Decimal | None,
    amount_off: int | None,
    currency: str | None,
    duration: str,
    duration_in_months: int | None,
    max_redemptions: int | None,
    redeem_by: int | None,
    name: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": coupon_id or random_chars(8),
        "object": "coupon",
        "amount_off": amount_off,
        "created": created,
        "currency": currency,
        "duration": duration,
        "duration_in_months": duration_in_months,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": metadata,
        "name": name,
        "percent_off": float(percent_off) if percent_off is not None else None,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }


def build_discount(
    *, start: int, coupon_id: str, checkout_session: str | None, customer: str | None
) -> dict[str, Any]:
    """A coupon applied to a Checkout Session (a one-off payment: it has no ``end``)."""
    return {
        "id": new_id("di_"),
        "object": "discount",
        "checkout_session": checkout_session,
        "customer": customer,
        "customer_account": None,
        "end": None,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": coupon_id, "type": "coupon"},
        "start": start,
        "subscription": None,
        "subscription_item": None,
    }
