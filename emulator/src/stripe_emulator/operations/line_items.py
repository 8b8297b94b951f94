"""A Checkout Session's ``line_items``: catalogue prices or inline ``price_data``.

``mode=payment`` takes one-time prices; ``mode=subscription`` takes exactly one
recurring price (the emulator's subscriptions have one item). An inline ``price_data`` in
subscription mode becomes a real, inactive Price (and ``product_data`` a real Product), as
on Stripe, because the subscription item refers to it; in payment mode the inline
product is only remembered for the hosted page.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError, invalid_param
from stripe_emulator.money import SUPPORTED
from stripe_emulator.objects.catalog import build_price, build_product
from stripe_emulator.objects.checkout import build_line_item
from stripe_emulator.operations.catalog import MAX_UNIT_AMOUNT, get_price, get_product, recurring_of
from stripe_emulator.params import (
    as_dict,
    as_int,
    as_list,
    as_metadata,
    as_str,
    exclusive,
    opt_str,
    reject_unknown,
    require,
)
from stripe_emulator.store import StripeObject

# The most a session may charge (and a unit amount may be), as on Stripe.
MAX_AMOUNT = 99_999_999
_LINE_ITEM_KEYS = {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price",
                   "price_data", "quantity", "tax_rates"}  # fmt: skip
_PRICE_DATA_KEYS = {"currency", "product", "product_data", "recurring", "tax_behavior",
                    "unit_amount", "unit_amount_decimal"}  # fmt: skip
_PRODUCT_DATA_KEYS = {"description", "images", "metadata", "name", "tax_code", "unit_label"}


class LineItems:
    """What the session sells: its line items, currency and the products they name."""

    def __init__(self) -> None:
        self.currency: str | None = None
        self.items: list[StripeObject] = []
        # Product id -> what the hosted page shows (name, description, metadata).
        self.products: dict[str, dict[str, Any]] = {}
        # Created with the session (subscription mode's inline prices and products).
        self.new_objects: list[StripeObject] = []

    def add_currency(self, currency: str, param: str) -> None:
        if self.currency is not None and currency != self.currency:
            raise invalid_param(param, "All line items must have the same currency.")
        self.currency = currency


def _show(product: dict[str, Any]) -> dict[str, Any]:
    return {k: product.get(k) for k in ("id", "name", "description", "metadata")}


def _catalog_price(emu: Emulator, item: dict[str, Any], p: str) -> StripeObject:
    price = get_price(emu, as_str(item["price"], f"{p}[price]"), param=f"{p}[price]")
    if not price["active"]:
        raise invalid_param(f"{p}[price]", f"The price specified ({price['id']}) is inactive.")
    return price


def _inline_price(
    emu: Emulator, item: dict[str, Any], p: str, mode: str, result: LineItems
) -> tuple[StripeObject, dict[str, Any]]:
    """``price_data``: the price (stored in subscription mode) and its product."""
    pd_param = f"{p}[price_data]"
    data = as_dict(item["price_data"], pd_param)
    reject_unknown(data, _PRICE_DATA_KEYS, pd_param)
    currency = as_str(require(data, "currency", f"{pd_param}[currency]"), f"{pd_param}[currency]")
    currency = currency.lower()
    if currency not in SUPPORTED:
        raise invalid_param(f"{pd_param}[currency]", f"Invalid currency: {currency}.")
    if "unit_amount_decimal" in data and "unit_amount" not in data:
        raise invalid_param(
            f"{pd_param}[unit_amount_decimal]", "The emulator supports only integer `unit_amount`."
        )
    amount_param = f"{pd_param}[unit_amount]"
    unit_amount = as_int(
        require(data, "unit_amount", amount_param), amount_param, minimum=0, maximum=MAX_UNIT_AMOUNT
    )
    exclusive(data, "product", "product_data")
    if data.get("product"):
        product = get_product(emu, as_str(data["product"], f"{pd_param}[product]"),
                              param=f"{pd_param}[product]")  # fmt: skip
    else:
        prod_param = f"{pd_param}[product_data]"
        raw = as_dict(require(data, "product_data", prod_param), prod_param)
        reject_unknown(raw, _PRODUCT_DATA_KEYS, prod_param)
        product = build_product(
            created=emu.now(),
            name=as_str(require(raw, "name", f"{prod_param}[name]"), f"{prod_param}[name]"),
            description=opt_str(raw.get("description"), f"{prod_param}[description]"),
            metadata=as_metadata(raw.get("metadata", {}), f"{prod_param}[metadata]"),
        )
        if mode == "subscription":
            result.new_objects.append(product)
    rec = None
    if data.get("recurring"):
        rec = recurring_of(data["recurring"], f"{pd_param}[recurring]")
    price = build_price(
        created=emu.now(),
        currency=currency,
        unit_amount=unit_amount,
        product=product["id"],
        recurring_=rec,
        metadata={},
        active=False,  # an inline price cannot be reused, as on Stripe
    )
    if mode == "subscription":
        result.new_objects.append(price)
    return price, product


def parse_line_items(emu: Emulator, raw: Any, mode: str) -> LineItems:
    entries = [] if raw is None else as_list(raw, "line_items")
    if not entries:
        raise StripeError(
            "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    if mode == "subscription" and len(entries) != 1:
        raise invalid_param(
            "line_items",
            "The Stripe emulator supports one recurring line item in subscription mode.",
        )
    result = LineItems()
    for index, raw_item in enumerate(entries):
        p = f"line_items[{index}]"
        item = as_dict(raw_item, p)
        reject_unknown(item, _LINE_ITEM_KEYS, p)
        if not item.get("price") and "price_data" not in item:
            raise StripeError(
                f"You must specify either `price` or `price_data` in {p}.",
                code="parameter_missing",
                param=p,
            )
        exclusive(item, "price", "price_data")
        if item.get("price"):
            price = _catalog_price(emu, item, p)
            product = _show(emu.store.products.get(price["product"]) or {"id": price["product"]})
        else:
            price, product = _inline_price(emu, item, p, mode, result)
        param = f"{p}[price]" if item.get("price") else f"{p}[price_data][recurring]"
        if mode == "payment" and price["recurring"]:
            raise invalid_param(param, "You can not pass a recurring price in `payment` mode.")
        if mode == "subscription" and not price["recurring"]:
            raise invalid_param(
                param, "The Stripe emulator supports only a recurring price in subscription mode."
            )
        result.add_currency(price["currency"], param)
        quantity = as_int(require(item, "quantity", f"{p}[quantity]"), f"{p}[quantity]",
                          minimum=1, maximum=999_999)  # fmt: skip
        line = build_line_item(
            created=emu.now(),
            currency=price["currency"],
            unit_amount=price["unit_amount"],
            quantity=quantity,
            name=product["name"] or "",
            product_id=product["id"],
        )
        if mode == "subscription" or item.get("price"):
            line["price"] = copy.deepcopy(price)
        result.items.append(line)
        result.products[product["id"]] = _show(product)
    return result
