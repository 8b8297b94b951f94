"""The ``product`` and ``price`` objects (and the legacy ``plan`` view of a price)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.ids import new_id


def build_product(
    *,
    created: int,
    name: str,
    description: str | None,
    metadata: dict[str, str],
    active: bool = True,
    unit_label: str | None = None,
    statement_descriptor: str | None = None,
    tax_code: str | None = None,
    url: str | None = None,
    images: list[str] | None = None,
    product_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": product_id or new_id("prod_", 14),
        "object": "product",
        "active": active,
        "created": created,
        "default_price": None,
        "description": description,
        "images": images or [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata,
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": statement_descriptor,
        "tax_code": tax_code,
        "type": "service",
        "unit_label": unit_label,
        "updated": created,
        "url": url,
    }


def recurring(interval: str, interval_count: int) -> dict[str, Any]:
    return {
        "interval": interval,
        "interval_count": interval_count,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def build_price(
    *,
    created: int,
    currency: str,
    unit_amount: int,
    product: str,
    recurring_: dict[str, Any] | None,
    metadata: dict[str, str],
    nickname: str | None = None,
    lookup_key: str | None = None,
    active: bool = True,
    tax_behavior: str = "unspecified",
) -> dict[str, Any]:
    return {
        "id": new_id("price_"),
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "nickname": nickname,
        "product": product,
        "recurring": recurring_,
        "tax_behavior": tax_behavior,
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring_ else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The ``plan`` Stripe still shows on subscription items: the price seen as a Plan
    (same id), kept for integrations written before Prices existed."""
    rec = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec.get("interval"),
        "interval_count": rec.get("interval_count"),
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": rec.get("usage_type", "licensed"),
    }
