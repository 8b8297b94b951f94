"""Products and Prices: create, update, list (and delete a product without prices).

A price's amount, currency and recurrence never change once created (Stripe's rule: make
a new price instead); only ``active``, ``metadata``, ``nickname``, ``lookup_key`` and an
unspecified ``tax_behavior`` can. Prices are per unit, in integer minor units; tiers,
custom amounts, metered usage and currency options are refused with a clear 400.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.core import Emulator, RequestContext
from stripe_emulator.errors import StripeError, invalid_param, no_such
from stripe_emulator.lists import created_matcher
from stripe_emulator.money import SUPPORTED
from stripe_emulator.objects.catalog import build_price, build_product, recurring
from stripe_emulator.params import (
    as_bool,
    as_dict,
    as_enum,
    as_int,
    as_list,
    as_metadata,
    as_str,
    exclusive,
    opt_str,
    refuse_given,
    reject_unknown,
    require,
    updated_metadata,
)
from stripe_emulator.periods import INTERVALS, MAX_COUNT
from stripe_emulator.store import StripeObject

MAX_UNIT_AMOUNT = 99_999_999
TAX_BEHAVIORS = {"exclusive", "inclusive", "unspecified"}

PRODUCT_CREATE = {
    "active", "default_price_data", "description", "expand", "id", "images",
    "marketing_features", "metadata", "name", "package_dimensions", "shippable",
    "statement_descriptor", "tax_code", "tax_details", "type", "unit_label", "url",
}  # fmt: skip
PRODUCT_UPDATE = {
    "active", "default_price", "description", "expand", "images", "marketing_features",
    "metadata", "name", "package_dimensions", "shippable", "statement_descriptor", "tax_code",
    "tax_details", "unit_label", "url",
}  # fmt: skip
PRODUCT_LIST = {"active", "created", "ending_before", "expand", "ids", "limit", "shippable",
                "starting_after", "type", "url"}  # fmt: skip
PRICE_CREATE = {
    "active", "billing_scheme", "currency", "currency_options", "custom_unit_amount", "expand",
    "lookup_key", "metadata", "nickname", "product", "product_data", "recurring",
    "tax_behavior", "tiers", "tiers_mode", "transfer_lookup_key", "transform_quantity",
    "unit_amount", "unit_amount_decimal",
}  # fmt: skip
PRICE_UPDATE = {"active", "currency_options", "expand", "lookup_key", "metadata", "nickname",
                "tax_behavior", "transfer_lookup_key"}  # fmt: skip
PRICE_LIST = {"active", "created", "currency", "ending_before", "expand", "limit", "lookup_keys",
              "product", "recurring", "starting_after", "type"}  # fmt: skip
# Pricing models the emulator does not compute: refused rather than silently flattened.
_PRICE_UNSUPPORTED = ("currency_options", "custom_unit_amount", "tiers", "tiers_mode",
                      "transform_quantity", "unit_amount_decimal")  # fmt: skip
_RECURRING_KEYS = {"interval", "interval_count", "meter", "trial_period_days", "usage_type"}
_PRODUCT_DATA_KEYS = {"active", "id", "metadata", "name", "statement_descriptor", "tax_code",
                      "tax_details", "unit_label"}  # fmt: skip
_DEFAULT_PRICE_KEYS = {
    "currency", "currency_options", "custom_unit_amount", "metadata", "recurring",
    "tax_behavior", "unit_amount", "unit_amount_decimal",
}  # fmt: skip


def get_product(emu: Emulator, product_id: str, param: str | None = None) -> StripeObject:
    product = emu.store.products.get(product_id)
    if product is None or product.get("deleted"):
        raise no_such("product", product_id, param=param)
    return product


def get_price(emu: Emulator, price_id: str, param: str | None = None) -> StripeObject:
    price = emu.store.prices.get(price_id)
    if price is None:
        raise no_such("price", price_id, param=param)
    return price


def _new_product(emu: Emulator, data: dict[str, Any], prefix: str = "") -> StripeObject:
    def p(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    product_id = opt_str(data.get("id"), p("id"))
    if product_id and product_id in emu.store.products:
        raise StripeError(
            f"Product already exists: {product_id}", code="resource_already_exists", param=p("id")
        )
    active = as_bool(data["active"], p("active")) if "active" in data else True
    images = as_list(data.get("images", []), p("images"))
    return build_product(
        created=emu.now(),
        name=as_str(require(data, "name", p("name")), p("name"), max_length=250),
        description=opt_str(data.get("description"), p("description"), max_length=40000),
        metadata=as_metadata(data.get("metadata", {}), p("metadata")),
        active=active,
        unit_label=opt_str(data.get("unit_label"), p("unit_label"), max_length=12),
        statement_descriptor=opt_str(
            data.get("statement_descriptor"), p("statement_descriptor"), max_length=22
        ),
        tax_code=opt_str(data.get("tax_code"), p("tax_code")),
        url=opt_str(data.get("url"), p("url")),
        images=[as_str(v, f"{p('images')}[{i}]") for i, v in enumerate(images)],
        product_id=product_id,
    )


def create_product(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, PRODUCT_CREATE)
    product = _new_product(emu, params)
    default = None
    if params.get("default_price_data"):
        data = as_dict(params["default_price_data"], "default_price_data")
        reject_unknown(data, _DEFAULT_PRICE_KEYS, "default_price_data")
        default = _new_price(emu, data, product["id"], "default_price_data")
        product["default_price"] = default["id"]
    emu.store.add(product)
    emu.emit("product.created", product, ctx)
    if default is not None:
        emu.store.add(default)
        emu.emit("price.created", default, ctx)
    return product


def update_product(
    emu: Emulator, product_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    product = get_product(emu, product_id)
    reject_unknown(params, PRODUCT_UPDATE)
    changes: dict[str, Any] = {}
    if "name" in params:
        changes["name"] = as_str(require(params, "name"), "name", max_length=250)
    for key, limit in (("description", 40000), ("unit_label", 12), ("statement_descriptor", 22),
                       ("tax_code", 5000), ("url", 5000)):  # fmt: skip
        if key in params:
            changes[key] = opt_str(params[key], key, max_length=limit)
    if "active" in params:
        changes["active"] = as_bool(params["active"], "active")
    if "metadata" in params:
        changes["metadata"] = updated_metadata(product["metadata"], params["metadata"])
    if "default_price" in params:
        price_id = opt_str(params["default_price"], "default_price")
        if price_id and get_price(emu, price_id, "default_price")["product"] != product_id:
            raise invalid_param("default_price", "The default price must belong to this product.")
        changes["default_price"] = price_id
    previous = {k: product[k] for k, v in changes.items() if product[k] != v}
    product.update(changes)
    if previous:
        product["updated"] = emu.now()
        emu.emit("product.updated", product, ctx, previous_attributes=previous)
    return product


def delete_product(emu: Emulator, product_id: str, ctx: RequestContext) -> StripeObject:
    product = get_product(emu, product_id)
    if any(p["product"] == product_id for p in emu.store.prices.values()):
        raise StripeError(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    emu.emit("product.deleted", product, ctx)
    stub = {"id": product_id, "object": "product", "deleted": True}
    emu.store.products[product_id] = stub
    return stub


def list_products(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, PRODUCT_LIST)
    created = created_matcher(params.get("created"))
    active = as_bool(params["active"], "active") if "active" in params else None
    ids = set(as_list(params.get("ids", []), "ids"))
    return [
        p
        for p in emu.store.products.values()
        if not p.get("deleted")
        and created(p["created"])
        and (active is None or p["active"] == active)
        and (not ids or p["id"] in ids)
    ]


def recurring_of(raw: Any, param: str) -> dict[str, Any]:
    data = as_dict(raw, param)
    reject_unknown(data, _RECURRING_KEYS, param)
    interval = as_enum(require(data, "interval", f"{param}[interval]"), f"{param}[interval]",
                       INTERVALS)  # fmt: skip
    count = as_int(data.get("interval_count", 1), f"{param}[interval_count]", minimum=1)
    if count > MAX_COUNT[interval]:
        raise invalid_param(
            f"{param}[interval_count]", "The maximum billing frequency is three years."
        )
    if data.get("usage_type", "licensed") != "licensed" or data.get("meter"):
        raise invalid_param(
            f"{param}[usage_type]", "The Stripe emulator supports only licensed recurring prices."
        )
    if data.get("trial_period_days") not in (None, ""):
        raise invalid_param(
            f"{param}[trial_period_days]", "The Stripe emulator does not support trials."
        )
    return recurring(interval, count)


def _new_price(
    emu: Emulator, data: dict[str, Any], product_id: str, prefix: str = ""
) -> StripeObject:
    def p(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    refuse_given(data, _PRICE_UNSUPPORTED, prefix)
    if data.get("billing_scheme", "per_unit") != "per_unit":
        raise invalid_param(p("billing_scheme"), "The Stripe emulator supports only per_unit.")
    currency = as_str(require(data, "currency", p("currency")), p("currency")).lower()
    if currency not in SUPPORTED:
        raise invalid_param(p("currency"), f"Invalid currency: {currency}.")
    unit_amount = as_int(require(data, "unit_amount", p("unit_amount")), p("unit_amount"),
                         minimum=0, maximum=MAX_UNIT_AMOUNT)  # fmt: skip
    tax_behavior = data.get("tax_behavior")
    rec = recurring_of(data["recurring"], p("recurring")) if data.get("recurring") else None
    return build_price(
        created=emu.now(),
        currency=currency,
        unit_amount=unit_amount,
        product=product_id,
        recurring_=rec,
        metadata=as_metadata(data.get("metadata", {}), p("metadata")),
        nickname=opt_str(data.get("nickname"), p("nickname")),
        active=as_bool(data["active"], p("active")) if "active" in data else True,
        tax_behavior=as_enum(tax_behavior, p("tax_behavior"), TAX_BEHAVIORS)
        if tax_behavior
        else "unspecified",
    )


def _claim_lookup_key(emu: Emulator, price: StripeObject, key: str | None, transfer: bool) -> None:
    """Give ``price`` the lookup key ``key`` (None: none), taking it from another price only
    with ``transfer``; refused before anything changes."""
    if key is None:
        price["lookup_key"] = None
        return
    for other in emu.store.prices.values():
        if other["id"] != price["id"] and other["lookup_key"] == key:
            if not transfer:
                raise invalid_param(
                    "lookup_key",
                    f"A price ({other['id']}) already uses that lookup key. Pass "
                    "transfer_lookup_key=true to move it to this price.",
                )
            other["lookup_key"] = None
    price["lookup_key"] = key


def create_price(emu: Emulator, params: dict[str, Any], ctx: RequestContext) -> StripeObject:
    reject_unknown(params, PRICE_CREATE)
    exclusive(params, "product", "product_data")
    product = None
    if params.get("product"):
        product = get_product(emu, as_str(params["product"], "product"), param="product")
    elif params.get("product_data"):
        data = as_dict(params["product_data"], "product_data")
        reject_unknown(data, _PRODUCT_DATA_KEYS, "product_data")
        product = _new_product(emu, data, "product_data")
    else:
        raise StripeError(
            "Missing required param: product.", code="parameter_missing", param="product"
        )
    price = _new_price(emu, params, product["id"])
    transfer = as_bool(params.get("transfer_lookup_key", "false"), "transfer_lookup_key")
    _claim_lookup_key(emu, price, opt_str(params.get("lookup_key"), "lookup_key", max_length=200),
                      transfer)  # fmt: skip
    if product["id"] not in emu.store.products:
        emu.store.add(product)
        emu.emit("product.created", product, ctx)
    emu.store.add(price)
    emu.emit("price.created", price, ctx)
    return price


def update_price(
    emu: Emulator, price_id: str, params: dict[str, Any], ctx: RequestContext
) -> StripeObject:
    price = get_price(emu, price_id)
    reject_unknown(params, PRICE_UPDATE)
    refuse_given(params, {"currency_options"})
    changes: dict[str, Any] = {}
    if "active" in params:
        changes["active"] = as_bool(params["active"], "active")
    if "metadata" in params:
        changes["metadata"] = updated_metadata(price["metadata"], params["metadata"])
    if "nickname" in params:
        changes["nickname"] = opt_str(params["nickname"], "nickname")
    if "tax_behavior" in params:
        behavior = as_enum(params["tax_behavior"], "tax_behavior", TAX_BEHAVIORS)
        if price["tax_behavior"] != "unspecified" and behavior != price["tax_behavior"]:
            raise invalid_param("tax_behavior", "tax_behavior cannot be changed once specified.")
        changes["tax_behavior"] = behavior
    transfer = as_bool(params.get("transfer_lookup_key", "false"), "transfer_lookup_key")
    key = price["lookup_key"]
    if "lookup_key" in params:
        key = opt_str(params["lookup_key"], "lookup_key", max_length=200)
    # The last check (a lookup key taken) comes before any change: a refusal changes nothing.
    previous = {k: price[k] for k, v in changes.items() if price[k] != v}
    if key != price["lookup_key"]:
        previous["lookup_key"] = price["lookup_key"]
        _claim_lookup_key(emu, price, key, transfer)
    price.update(changes)
    if previous:
        emu.emit("price.updated", price, ctx, previous_attributes=previous)
    return price


def list_prices(emu: Emulator, params: dict[str, Any]) -> list[StripeObject]:
    reject_unknown(params, PRICE_LIST)
    created = created_matcher(params.get("created"))
    active = as_bool(params["active"], "active") if "active" in params else None
    kind = as_enum(params["type"], "type", {"one_time", "recurring"}) if "type" in params else None
    keys = {as_str(k, "lookup_keys") for k in as_list(params.get("lookup_keys", []), "lookup_keys")}
    rec = as_dict(params.get("recurring", {}), "recurring")
    reject_unknown(rec, {"interval", "meter", "usage_type"}, "recurring")
    return [
        p
        for p in emu.store.prices.values()
        if created(p["created"])
        and (active is None or p["active"] == active)
        and (kind is None or p["type"] == kind)
        and ("product" not in params or p["product"] == params["product"])
        and ("currency" not in params or p["currency"] == params["currency"])
        and (not keys or p["lookup_key"] in keys)
        and ("interval" not in rec or (p["recurring"] or {}).get("interval") == rec["interval"])
    ]
