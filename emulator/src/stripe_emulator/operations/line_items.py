"""A Checkout Session's ``line_items`` (``price_data`` ones: catalogue prices are not
emulated), checked as Stripe checks them: one currency, integer amounts, a quantity."""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import Emulator
from stripe_emulator.errors import StripeError, invalid_param
from stripe_emulator.ids import new_id
from stripe_emulator.money import SUPPORTED
from stripe_emulator.objects.checkout import build_line_item
from stripe_emulator.params import (
    as_dict,
    as_int,
    as_list,
    as_metadata,
    as_str,
    opt_str,
    reject_unknown,
    require,
)
from stripe_emulator.store import StripeObject

_LINE_ITEM_KEYS = {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price",
                   "price_data", "quantity", "tax_rates"}  # fmt: skip
_PRICE_DATA_KEYS = {"currency", "product", "product_data", "recurring", "tax_behavior",
                    "unit_amount", "unit_amount_decimal"}  # fmt: skip
_PRODUCT_DATA_KEYS = {"description", "images", "metadata", "name", "tax_code", "unit_label"}

MAX_AMOUNT = 99_999_999


def parse_line_items(
    emu: Emulator, raw: Any
) -> tuple[str, list[StripeObject], dict[str, dict[str, Any]]]:
    items = [] if raw is None else as_list(raw, "line_items")
    if not items:
        raise StripeError(
            "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    currency: str | None = None
    built: list[StripeObject] = []
    products: dict[str, dict[str, Any]] = {}
    for index, raw_item in enumerate(items):
        p = f"line_items[{index}]"
        item = as_dict(raw_item, p)
        reject_unknown(item, _LINE_ITEM_KEYS, p)
        if item.get("price"):
            # Catalogue prices are not emulated; price_data is what this product uses.
            raise StripeError(
                f"No such price: '{item['price']}'", code="resource_missing", param=f"{p}[price]"
            )
        if "price_data" not in item:
            raise StripeError(
                f"You must specify either `price` or `price_data` in {p}.",
                code="parameter_missing",
                param=p,
            )
        pd_param = f"{p}[price_data]"
        price_data = as_dict(item["price_data"], pd_param)
        reject_unknown(price_data, _PRICE_DATA_KEYS, pd_param)
        item_currency = as_str(
            require(price_data, "currency", f"{pd_param}[currency]"), f"{pd_param}[currency]"
        ).lower()
        if item_currency not in SUPPORTED:
            raise invalid_param(f"{pd_param}[currency]", f"Invalid currency: {item_currency}.")
        if currency is not None and item_currency != currency:
            raise invalid_param(
                f"{pd_param}[currency]", "All line items must have the same currency."
            )
        currency = item_currency
        if price_data.get("recurring"):
            raise invalid_param(
                f"{pd_param}[recurring]", "You can not pass `recurring` in `payment` mode."
            )
        if "unit_amount" in price_data:
            unit_amount = as_int(
                price_data["unit_amount"], f"{pd_param}[unit_amount]", minimum=0, maximum=MAX_AMOUNT
            )
        elif "unit_amount_decimal" in price_data:
            raise invalid_param(
                f"{pd_param}[unit_amount_decimal]",
                "The emulator supports only integer `unit_amount`.",
            )
        else:
            raise StripeError(
                f"Missing required param: {pd_param}[unit_amount].",
                code="parameter_missing",
                param=f"{pd_param}[unit_amount]",
            )
        if price_data.get("product"):
            raise StripeError(
                f"No such product: '{price_data['product']}'",
                code="resource_missing",
                param=f"{pd_param}[product]",
            )
        prod_param = f"{pd_param}[product_data]"
        product = as_dict(require(price_data, "product_data", prod_param), prod_param)
        reject_unknown(product, _PRODUCT_DATA_KEYS, prod_param)
        name = as_str(require(product, "name", f"{prod_param}[name]"), f"{prod_param}[name]")
        quantity = as_int(
            require(item, "quantity", f"{p}[quantity]"),
            f"{p}[quantity]",
            minimum=1,
            maximum=999_999,
        )
        product_id = new_id("prod_", 14)
        products[product_id] = {
            "id": product_id,
            "name": name,
            "description": opt_str(product.get("description"), f"{prod_param}[description]"),
            "metadata": as_metadata(product.get("metadata", {}), f"{prod_param}[metadata]"),
        }
        built.append(
            build_line_item(
                created=emu.now(),
                currency=item_currency,
                unit_amount=unit_amount,
                quantity=quantity,
                name=name,
                product_id=product_id,
            )
        )
    assert currency is not None
    return currency, built, products
